//! Finding the reply object in an LLM's text: strict JSON first, then the first balanced
//! object (inside code fences first), then `key: value` pairs for known variable names.

use serde_json::{Map, Value as Json};

use crate::reply::lenient;

/// How the reply object was found, from the strictest stage to the loosest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stage {
    /// The whole reply is one JSON object.
    Strict,
    /// A balanced object inside the text, parsed leniently.
    Embedded,
    /// `name: value` pairs for known names, found anywhere in the text.
    KeyValue,
}

/// The object found in a reply.
#[derive(Debug)]
pub(crate) struct Found {
    pub(crate) object: Map<String, Json>,
    pub(crate) stage: Stage,
    /// Whether the object was cut off, so members after the cut are missing.
    pub(crate) truncated: bool,
}

/// At most this many `{` positions are tried, which bounds the work on a long reply.
const MAX_OBJECT_STARTS: usize = 64;

/// Finds the reply object in `text`. `names` are the variable names that the key-value
/// stage looks for.
pub(crate) fn find_object(text: &str, names: &[String]) -> Option<Found> {
    if let Ok(Json::Object(object)) = serde_json::from_str::<Json>(text.trim()) {
        return Some(Found { object, stage: Stage::Strict, truncated: false });
    }

    let mut truncated_candidate = None;
    let regions = code_fences(text).into_iter().chain(std::iter::once(text));
    for region in regions {
        for (start, _) in region.match_indices('{').take(MAX_OBJECT_STARTS) {
            let Some(parsed) = lenient::parse_value(&region[start..]) else { continue };
            let Json::Object(object) = parsed.value else { continue };
            if object.is_empty() && parsed.truncated {
                continue;
            }
            if !parsed.truncated {
                return Some(Found { object, stage: Stage::Embedded, truncated: false });
            }
            truncated_candidate.get_or_insert(Found { object, stage: Stage::Embedded, truncated: true });
        }
    }
    if truncated_candidate.is_some() {
        return truncated_candidate;
    }

    key_values(text, names)
}

/// The bodies of the ``` fenced blocks of `text`, in order; an unclosed last fence runs to
/// the end of the text.
fn code_fences(text: &str) -> Vec<&str> {
    let mut bodies = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("```") {
        let after_fence = &rest[open + 3..];
        let body_start = after_fence.find('\n').map_or(after_fence.len(), |newline| newline + 1);
        let body = &after_fence[body_start..];
        match body.find("```") {
            Some(close) => {
                bodies.push(&body[..close]);
                rest = &body[close + 3..];
            }
            None => {
                bodies.push(body);
                break;
            }
        }
    }
    bodies
}

/// Looks for `name: value` or `name = value` for each of `names`, with the name optionally
/// quoted. The value is parsed leniently, or else taken as the rest of the line.
fn key_values(text: &str, names: &[String]) -> Option<Found> {
    let mut suggestion = Map::new();
    for name in names {
        if let Some(value) = value_after_name(text, name) {
            suggestion.insert(name.clone(), value);
        }
    }
    if suggestion.is_empty() {
        return None;
    }

    let mut object = Map::new();
    object.insert("suggestion".to_string(), Json::Object(suggestion));
    Some(Found { object, stage: Stage::KeyValue, truncated: false })
}

fn value_after_name(text: &str, name: &str) -> Option<Json> {
    for (start, _) in text.match_indices(name) {
        let before = text[..start].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let after = text[start + name.len()..].trim_start_matches(['"', '\'', '`', '*']);
        let after = after.trim_start_matches([' ', '\t']);
        let Some(after) = after.strip_prefix([':', '=']) else { continue };
        let after = after.trim_start_matches([' ', '\t']);

        if let Some(parsed) = lenient::parse_value(after).filter(|parsed| !parsed.truncated) {
            return Some(parsed.value);
        }
        let line = after.lines().next().unwrap_or_default().trim().trim_end_matches(',').trim();
        if !line.is_empty() {
            return Some(Json::String(line.to_string()));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn found(text: &str) -> Found {
        find_object(text, &["x0".to_string()]).unwrap_or_else(|| panic!("nothing found in {text:?}"))
    }

    #[test]
    fn strict_object() {
        let found = found(r#" {"suggestion": {"x0": 1}} "#);

        assert_eq!(found.stage, Stage::Strict);
        assert_eq!(Json::Object(found.object), json!({"suggestion": {"x0": 1}}));
    }

    #[test]
    fn object_in_prose_and_fence() {
        let text = "Sure! Here it is:\n```json\n{'suggestion': {'x0': 2,},}\n```\nHope {this} helps.";

        let found = found(text);

        assert_eq!(found.stage, Stage::Embedded);
        assert_eq!(Json::Object(found.object), json!({"suggestion": {"x0": 2}}));
    }

    #[test]
    fn first_complete_object_wins_over_braces_in_prose() {
        let found = found("Set {x} as follows {\"suggestion\": {\"x0\": 3}}");

        assert_eq!(Json::Object(found.object), json!({"suggestion": {"x0": 3}}));
    }

    #[test]
    fn truncated_object_is_kept() {
        let found = found(r#"{"reasoning": "long", "suggestion": {"x0": 4, "y0": "cut"#);

        assert!(found.truncated);
        assert_eq!(Json::Object(found.object), json!({"reasoning": "long", "suggestion": {"x0": 4}}));
    }

    #[test]
    fn key_value_lines() {
        let found = found("I would set\nx0 = 7\nand leave the rest.");

        assert_eq!(found.stage, Stage::KeyValue);
        assert_eq!(Json::Object(found.object), json!({"suggestion": {"x0": 7}}));
    }

    #[test]
    fn key_value_needs_whole_name() {
        assert!(find_object("max0 = 7", &["x0".to_string()]).is_none());
    }

    #[test]
    fn nothing_found() {
        assert!(find_object("", &["x0".to_string()]).is_none());
        assert!(find_object("I cannot help with that.", &["x0".to_string()]).is_none());
    }
}
