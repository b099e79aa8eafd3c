//! Turning an LLM reply into parameter updates, and asking again when that fails.
//!
//! A reply goes through three extraction stages (strict JSON, the first balanced object
//! parsed leniently, then `key: value` pairs for known names), then its `suggestion` keys
//! are resolved to parameters (aliases included) and each value is converted to its
//! parameter's type. A reply that fails any of these is sent back to the model with the
//! reason and the valid keys, by [`complete_with_repair`], a bounded number of times.

mod convert;
mod extract;
pub(crate) mod keys;
mod lenient;

use serde_json::{Map, Value as Json};
use trace_core::{Node, Value};
use tracing::warn;

pub(crate) use convert::{convert, strip_rendered_key};
pub(crate) use keys::{KeyResolver, Variable};

use crate::error::{Error, Result};
use crate::llm::{ChatRequest, Completion, FinishReason, LlmClient, Message};
use crate::templates::Templates;

/// The reply word that leaves every parameter unchanged.
pub(crate) const TERMINATE: &str = "TERMINATE";

/// A usable reply: its updates, reasoning and warnings.
#[derive(Clone, Debug, Default)]
pub(crate) struct SuggestionReply {
    pub(crate) updates: Vec<(Node, Value)>,
    pub(crate) reasoning: Option<String>,
    pub(crate) terminated: bool,
    /// Repairs and ignored keys, for the step log.
    pub(crate) warnings: Vec<String>,
}

/// Parses a reply of the form `{"reasoning": ..., "answer": ..., "suggestion": {key: value}}`.
///
/// `cut_off` is true when the token limit stopped the reply, and the error message then
/// says so.
///
/// # Errors
///
/// The reason the reply cannot be used, written for the model: no object, no suggestion,
/// no known key, or a value of the wrong type.
pub(crate) fn parse_suggestion(text: &str, cut_off: bool, resolver: &KeyResolver) -> Result<SuggestionReply, String> {
    let cut_note = if cut_off { "; the reply was cut off by the token limit, so keep the reasoning short" } else { "" };
    if text.trim().is_empty() {
        return Err(format!("the reply is empty{cut_note}"));
    }
    if contains_terminate(text) {
        return Ok(SuggestionReply { terminated: true, ..SuggestionReply::default() });
    }

    let Some(found) = extract::find_object(text, &resolver.searchable_names()) else {
        return Err(format!("no JSON object was found in the reply{cut_note}"));
    };
    let mut reply =
        SuggestionReply { reasoning: found.object.get("reasoning").map(json_text), ..SuggestionReply::default() };
    match found.stage {
        extract::Stage::Strict => {}
        extract::Stage::Embedded => {
            reply.warnings.push("the reply was not plain JSON; its object was repaired".to_string())
        }
        extract::Stage::KeyValue => {
            reply.warnings.push("the reply had no JSON object; values were read from `key: value` text".to_string())
        }
    }
    if found.truncated {
        reply.warnings.push("the reply was cut off; only the values completed before the cut were used".to_string());
    }

    let suggestion = match find_suggestion(&found.object, 0) {
        Some(suggestion) => suggestion,
        None => {
            let top_level: Map<String, Json> = found
                .object
                .iter()
                .filter(|(name, _)| matches!(resolver.resolve(name), keys::Resolved::Found(_)))
                .map(|(name, value)| (name.clone(), value.clone()))
                .collect();
            if top_level.is_empty() {
                return Err(format!("the reply has no \"suggestion\" object{cut_note}"));
            }
            reply
                .warnings
                .push("the reply has no \"suggestion\" object; its top-level variable keys were used".to_string());
            top_level
        }
    };

    let mut unknown = Vec::new();
    let mut invalid = Vec::new();
    let mut seen = Vec::new();
    for (name, value) in &suggestion {
        let index = match resolver.resolve(name) {
            keys::Resolved::Found(index) => index,
            keys::Resolved::Ambiguous(candidates) => {
                unknown.push(format!("`{name}` (could be any of {})", candidates.join(", ")));
                continue;
            }
            keys::Resolved::Unknown => {
                unknown.push(format!("`{name}`"));
                continue;
            }
        };
        let variable = &resolver.variables()[index];
        if seen.contains(&index) {
            reply.warnings.push(format!("`{name}` names `{}` a second time; the first value was used", variable.key));
            continue;
        }
        seen.push(index);
        if name.as_str() != variable.key {
            reply.warnings.push(format!("key `{name}` was read as `{}`", variable.key));
        }
        let value = strip_rendered_key(value, &variable.key);
        match convert(&value, &variable.current) {
            Ok(converted) => reply.updates.push((variable.node.clone(), converted)),
            Err(reason) => invalid.push(format!("`{}`: {reason}", variable.key)),
        }
    }

    if !invalid.is_empty() {
        return Err(format!("invalid values in \"suggestion\": {}", invalid.join("; ")));
    }
    if reply.updates.is_empty() {
        return Err(if unknown.is_empty() {
            format!("the \"suggestion\" object names no variable{cut_note}")
        } else {
            format!("the \"suggestion\" object names no known variable, only {}", unknown.join(", "))
        });
    }
    if !unknown.is_empty() {
        reply.warnings.push(format!("unknown keys were ignored: {}", unknown.join(", ")));
    }
    Ok(reply)
}

/// Returns whether the reply contains `TERMINATE` as a word of its own.
fn contains_terminate(text: &str) -> bool {
    text.match_indices(TERMINATE).any(|(start, _)| {
        let before = text[..start].chars().next_back();
        let after = text[start + TERMINATE.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

/// Nesting deeper than this is not searched for a suggestion.
const MAX_SEARCH_DEPTH: usize = 4;

/// Finds the `suggestion` map of a reply object: a member named `suggestion` (or
/// `suggestions`), unwrapped when it contains a single nested `suggestion`, parsed when the model wrote it as
/// a string, or else found inside another member such as `answer`.
fn find_suggestion(object: &Map<String, Json>, depth: usize) -> Option<Map<String, Json>> {
    if depth > MAX_SEARCH_DEPTH {
        return None;
    }
    for (name, value) in object {
        if !(name.eq_ignore_ascii_case("suggestion") || name.eq_ignore_ascii_case("suggestions")) {
            continue;
        }
        let inner = match value {
            Json::Object(inner) => inner.clone(),
            Json::String(text) => match lenient::parse_value(text.trim()) {
                Some(lenient::Lenient { value: Json::Object(inner), truncated: false, .. }) => inner,
                _ => continue,
            },
            _ => continue,
        };
        if inner.len() == 1
            && let Some(nested) = find_suggestion(&inner, depth + 1)
        {
            return Some(nested);
        }
        return Some(inner);
    }
    object.values().find_map(|value| match value {
        Json::Object(inner) => find_suggestion(inner, depth + 1),
        _ => None,
    })
}

/// Renders a reply member as text: strings as they are, anything else as JSON.
pub(crate) fn json_text(json: &Json) -> String {
    match json {
        Json::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// A reply that passed `parse`, and the number of LLM calls it took.
#[derive(Debug)]
pub(crate) struct Repaired<T> {
    pub(crate) value: T,
    pub(crate) calls: usize,
}

/// Sends `request`, and while `parse` rejects the reply, sends the conversation again with
/// the reply and the message `retry_prompt` writes for the rejection, at most
/// `max_retries` times.
///
/// # Errors
///
/// [`Error::InvalidReply`] when the last reply is still rejected, any client error as it
/// is, and [`Error::Template`] when the retry prompt fails to render.
pub(crate) async fn complete_with_repair<T>(
    client: &dyn LlmClient,
    optimizer: &str,
    mut request: ChatRequest,
    max_retries: usize,
    mut parse: impl FnMut(&Completion) -> Result<T, String> + Send,
    mut retry_prompt: impl FnMut(&str) -> Result<String> + Send,
) -> Result<Repaired<T>> {
    let mut calls = 0;
    let mut rejected: Option<(String, String)> = None;
    loop {
        calls += 1;
        let completion = match client.complete(&request).await {
            Ok(completion) => completion,
            Err(error) => return Err(follow_up_failure(error, optimizer, calls, rejected)),
        };
        let reason = match parse(&completion) {
            Ok(value) => return Ok(Repaired { value, calls }),
            Err(reason) => reason,
        };

        if calls > max_retries {
            tracing::error!(optimizer, attempts = calls, %reason, "giving up on the LLM reply");
            return Err(Error::InvalidReply {
                optimizer: optimizer.to_string(),
                attempts: calls,
                reason,
                raw: completion.text,
            });
        }
        warn!(optimizer, attempt = calls, %reason, "LLM reply rejected; asking again");
        let follow_up = retry_prompt(&reason)?;
        request.messages.push(Message::assistant(completion.text.clone()));
        request.messages.push(Message::user(follow_up));
        rejected = Some((reason, completion.text));
    }
}

/// Turns a client error into the error of the repair loop. A follow-up request carries the
/// rejected reply and the reason, so it can exceed the model's context where the first
/// request fit. A 400 to it therefore ends the loop like an unusable reply, not like an
/// endpoint failure, and a run goes on with its next step.
fn follow_up_failure(error: Error, optimizer: &str, calls: usize, rejected: Option<(String, String)>) -> Error {
    match (error, rejected) {
        (Error::Http { status: 400, message, .. }, Some((reason, raw))) => {
            tracing::error!(optimizer, attempts = calls, %message, "the server rejected the follow-up request");
            Error::InvalidReply {
                optimizer: optimizer.to_string(),
                attempts: calls,
                reason: format!("{reason}; then the server rejected the follow-up request: {message}"),
                raw,
            }
        }
        (error, _) => error,
    }
}

/// Sends `request` and parses the reply as a suggestion for the variables of `resolver`,
/// asking again with the template `retry_template` (given `error` and `keys`) while the
/// reply cannot be used.
///
/// # Errors
///
/// As [`complete_with_repair`].
pub(crate) async fn ask_for_suggestion(
    client: &dyn LlmClient,
    optimizer: &str,
    request: ChatRequest,
    resolver: &KeyResolver,
    max_retries: usize,
    templates: &Templates,
    retry_template: &str,
) -> Result<Repaired<SuggestionReply>> {
    let keys = resolver.keys();
    complete_with_repair(
        client,
        optimizer,
        request,
        max_retries,
        |completion| parse_suggestion(&completion.text, is_cut_off(completion), resolver),
        |error| {
            let mut context = tera::Context::new();
            context.insert("error", error);
            context.insert("keys", &keys);
            templates.render(retry_template, &context)
        },
    )
    .await
}

/// Returns whether the token limit cut `completion` short.
pub(crate) fn is_cut_off(completion: &Completion) -> bool {
    completion.finish_reason == FinishReason::Length
}

#[cfg(test)]
mod tests {
    use trace_core::Parameter;

    use super::*;

    struct Setup {
        x: Node,
        prompt: Node,
        code: Node,
        resolver: KeyResolver,
    }

    fn setup() -> Setup {
        let x = Node::parameter("x", 1);
        let prompt = Node::parameter("prompt", "Answer.");
        let code = Parameter::new("__code", trace_core::Value::Code("function solve(a) { return a; }".into()))
            .constraint("function solve(a)")
            .build();
        let resolver = KeyResolver::new(vec![Variable::of(&x), Variable::of(&prompt), Variable::of(&code)]);
        Setup { x, prompt, code, resolver }
    }

    /// Parses `text` and returns the updates as `(key, rendered value)`.
    fn updates(text: &str, setup: &Setup) -> Result<Vec<(String, Value)>, String> {
        let reply = parse_suggestion(text, false, &setup.resolver)?;
        Ok(reply.updates.into_iter().map(|(node, value)| (node.key().to_string(), value)).collect())
    }

    #[test]
    fn repaired_replies() {
        let setup = setup();
        let x = setup.x.key().to_string();
        let prompt = setup.prompt.key().to_string();
        let code = setup.code.key().to_string();
        let cases = [
            format!(r#"{{"reasoning": "r", "answer": "", "suggestion": {{"{x}": 5}}}}"#),
            format!("Here you go:\n```json\n{{\"suggestion\": {{\"{x}\": 5}}}}\n```\nDone."),
            format!("{{'reasoning': 'r', 'suggestion': {{'{x}': 5,}},}}"),
            format!(r#"{{"reasoning": None, "done": False, "suggestion": {{"{x}": 5}}}}"#),
            format!(r#"{{"reasoning": "r", "suggestion": {{"suggestion": {{"{x}": 5}}}}}}"#),
            format!(r#"{{"reasoning": "r", "answer": {{"suggestion": {{"{x}": 5}}}}}}"#),
            format!(r#"{{"suggestion": {{"{x}": "5"}}}}"#),
            format!(r#"{{"suggestion": {{"{x}": "(int) {x}=5"}}}}"#),
            format!(r#"{{"suggestion": {{"x:{}": 5}}}}"#, &x[1..]),
            r#"{"suggestion": {"x": 5.0}}"#.to_string(),
            format!(r#"{{"suggestion": "{{\"{x}\": 5}}"}}"#),
            format!(r#"{{"{x}": 5}}"#),
            format!("{x} = 5"),
            format!(r#"{{"reasoning": "long", "suggestion": {{"{x}": 5, "{prompt}": "Answer bri"#),
        ];

        for text in cases {
            assert_eq!(updates(&text, &setup), Ok(vec![(x.clone(), Value::Int(5))]), "reply {text:?}");
        }

        let by_function_name = updates(r#"{"suggestion": {"solve": "function solve(a) { return 2 * a; }"}}"#, &setup);
        assert_eq!(by_function_name, Ok(vec![(code, Value::Code("function solve(a) { return 2 * a; }".into()))]));
    }

    #[test]
    fn rejected_replies() {
        let setup = setup();
        let x = setup.x.key().to_string();
        let cases = [
            ("", "the reply is empty"),
            ("   \n", "the reply is empty"),
            ("I am not sure what to do.", "no JSON object was found in the reply"),
            (r#"{"reasoning": "the value should grow"}"#, "the reply has no \"suggestion\" object"),
            (r#"{"reasoning": "r", "suggestion": {}}"#, "the \"suggestion\" object names no variable"),
            (
                r#"{"suggestion": {"add0": 5, "int": 3}}"#,
                "the \"suggestion\" object names no known variable, only `add0`, `int`",
            ),
            (
                &format!(r#"{{"suggestion": {{"{x}": "five"}}}}"#),
                &format!("invalid values in \"suggestion\": `{x}`: expected a value of type (int), found \"five\""),
            ),
            (r#"{"reasoning": "I think the value sh"#, "no JSON object was found in the reply"),
        ];

        for (text, expected) in cases {
            assert_eq!(updates(text, &setup), Err(expected.to_string()), "reply {text:?}");
        }
    }

    #[test]
    fn cut_off_reply_mentions_the_limit() {
        let setup = setup();

        let error = parse_suggestion(r#"{"reasoning": "very long"#, true, &setup.resolver).unwrap_err();

        assert!(error.ends_with("cut off by the token limit, so keep the reasoning short"), "{error}");
    }

    #[test]
    fn terminate_changes_nothing() {
        let setup = setup();

        for text in ["TERMINATE", "All good.\nTERMINATE", r#"{"reasoning": "fine", "answer": "TERMINATE"}"#] {
            let reply = parse_suggestion(text, false, &setup.resolver).unwrap();
            assert!(reply.terminated, "reply {text:?}");
            assert!(reply.updates.is_empty());
        }
        assert!(parse_suggestion("NOTTERMINATED", false, &setup.resolver).is_err());
    }

    #[test]
    fn unknown_keys_beside_known_ones_are_warnings() {
        let setup = setup();
        let text = format!(r#"{{"suggestion": {{"{}": 2, "add0": 3}}}}"#, setup.x.key());

        let reply = parse_suggestion(&text, false, &setup.resolver).unwrap();

        assert_eq!(reply.updates.len(), 1);
        assert_eq!(reply.warnings, ["unknown keys were ignored: `add0`"]);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
            let setup = setup();
            let _ = parse_suggestion(&text, false, &setup.resolver);
        }

        #[test]
        fn json_like_text_never_panics(text in r#"[{}\[\]"':,=\\ a-z0-9.\-\n`uTFN]{0,200}"#) {
            let setup = setup();
            let _ = parse_suggestion(&text, true, &setup.resolver);
        }
    }

    #[test]
    fn ambiguous_base_name_is_not_guessed() {
        let first = Node::parameter("p", "a");
        let second = Node::parameter("p", "b");
        let resolver = KeyResolver::new(vec![Variable::of(&first), Variable::of(&second)]);

        let error = parse_suggestion(r#"{"suggestion": {"p": "c"}}"#, false, &resolver).unwrap_err();

        assert!(error.contains(&format!("`p` (could be any of {}, {})", first.key(), second.key())), "{error}");
    }
}
