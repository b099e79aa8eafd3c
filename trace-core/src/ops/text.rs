//! Traced string operators: formatting, case, trimming, splitting, joining, replacing.

use std::collections::BTreeMap;

use crate::node::Node;
use crate::op::{OpSpec, builtin_op};
use crate::ops::IntoNode;
use crate::value::Value;

builtin_op!(UPPER, "upper", "[upper] Converts the string x to upper case.", ["x"]);
builtin_op!(LOWER, "lower", "[lower] Converts the string x to lower case.", ["x"]);
builtin_op!(STRIP, "strip", "[strip] Removes leading and trailing white space from the string x.", ["x"]);
builtin_op!(SPLIT, "split", "[split] Splits the string x at every occurrence of sep.", ["x", "sep"]);
builtin_op!(JOIN, "join", "[join] Joins the strings of the list items with sep between them.", ["sep", "items"]);
builtin_op!(
    REPLACE,
    "replace",
    "[replace] Replaces every occurrence of old in the string x by new.",
    ["x", "old", "new"]
);

/// Traced `template.format(**args)` as in Python: each `{name}` in the template is replaced
/// by the rendering of argument `name`, and `{{`, `}}` stand for literal braces.
///
/// The node's parents are the template and then the arguments, named after their
/// placeholders. A missing argument or an unclosed brace makes an exception node.
///
/// ```
/// use trace_core::{Node, ops};
///
/// let template = Node::parameter("template", "Q: {question}\nA:");
/// let question = Node::input("question", "2 + 2?");
///
/// let prompt = ops::format(&template, &[("question", &question)]);
///
/// assert_eq!(prompt.value().render(), "Q: 2 + 2?\nA:");
/// assert_eq!(prompt.inputs().map(|(name, _)| name).collect::<Vec<_>>(), ["template", "question"]);
/// ```
pub fn format(template: &Node, args: &[(&str, &Node)]) -> Node {
    let mut arg_names = vec!["template"];
    arg_names.extend(args.iter().map(|(name, _)| *name));
    let spec = OpSpec::new(
        "format",
        "[format] Fills the placeholders {name} of the string template with the named arguments.",
        &arg_names,
    );
    let mut parents = vec![template.clone()];
    parents.extend(args.iter().map(|(_, node)| (*node).clone()));

    spec.apply(parents, |values| {
        let Value::Text(template) = &values[0] else {
            return Err(format!("format template must be a string, not '{}'", values[0].type_tag()));
        };
        let named: BTreeMap<&str, &Value> = args.iter().map(|(name, _)| *name).zip(&values[1..]).collect();
        fill_template(template, &named)
    })
}

impl Node {
    /// Traced `self.format(**args)`; see [`format`].
    pub fn format(&self, args: &[(&str, &Node)]) -> Node {
        format(self, args)
    }

    /// Traced upper-casing of a string.
    pub fn upper(&self) -> Node {
        UPPER.apply(vec![self.clone()], |values| Ok(Value::Text(text_of(&values[0], "upper")?.to_uppercase())))
    }

    /// Traced lower-casing of a string.
    pub fn lower(&self) -> Node {
        LOWER.apply(vec![self.clone()], |values| Ok(Value::Text(text_of(&values[0], "lower")?.to_lowercase())))
    }

    /// Traced trimming of white space at both ends of a string.
    pub fn strip(&self) -> Node {
        STRIP.apply(vec![self.clone()], |values| Ok(Value::Text(text_of(&values[0], "strip")?.trim().to_string())))
    }

    /// Traced split of a string at every occurrence of `sep`; an empty `sep` splits on white
    /// space, as Python's `split()` does.
    pub fn split(&self, sep: impl IntoNode) -> Node {
        SPLIT.apply(vec![self.clone(), sep.into_node()], |values| {
            let text = text_of(&values[0], "split")?;
            let sep = text_of(&values[1], "split")?;
            let parts: Vec<Value> = if sep.is_empty() {
                text.split_whitespace().map(Value::from).collect()
            } else {
                text.split(sep).map(Value::from).collect()
            };
            Ok(Value::List(parts))
        })
    }

    /// Traced `self.join(items)`: this node is the separator, `items` a list of strings.
    pub fn join(&self, items: impl IntoNode) -> Node {
        JOIN.apply(vec![self.clone(), items.into_node()], |values| {
            let sep = text_of(&values[0], "join")?;
            let Value::List(items) = &values[1] else {
                return Err(format!("join expects a list, not '{}'", values[1].type_tag()));
            };
            let parts: Result<Vec<&str>, String> = items
                .iter()
                .map(|item| item.as_str().ok_or_else(|| format!("join expects strings, found '{}'", item.type_tag())))
                .collect();
            Ok(Value::Text(parts?.join(sep)))
        })
    }

    /// Traced replacement of every occurrence of `old` by `new` in a string.
    pub fn replace(&self, old: impl IntoNode, new: impl IntoNode) -> Node {
        REPLACE.apply(vec![self.clone(), old.into_node(), new.into_node()], |values| {
            let text = text_of(&values[0], "replace")?;
            let old = text_of(&values[1], "replace")?;
            let new = text_of(&values[2], "replace")?;
            Ok(Value::Text(text.replace(old, new)))
        })
    }
}

fn text_of<'a>(value: &'a Value, op: &str) -> Result<&'a str, String> {
    value.as_str().ok_or_else(|| format!("{op} expects a string, not '{}'", value.type_tag()))
}

/// Fills `{name}` placeholders; `{{` and `}}` are literal braces.
fn fill_template(template: &str, args: &BTreeMap<&str, &Value>) -> Result<Value, String> {
    let mut out = String::with_capacity(template.len());
    let mut chars = template.char_indices().peekable();

    while let Some((start, c)) = chars.next() {
        match c {
            '{' if chars.peek().map(|&(_, next)| next) == Some('{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek().map(|&(_, next)| next) == Some('}') => {
                chars.next();
                out.push('}');
            }
            '{' => {
                let rest = &template[start + 1..];
                let end = rest.find('}').ok_or_else(|| format!("unclosed '{{' at byte {start} of the template"))?;
                let name = rest[..end].trim();
                let value = args.get(name).ok_or_else(|| {
                    let known: Vec<&str> = args.keys().copied().collect();
                    format!("KeyError: no argument named '{name}' (arguments: {})", known.join(", "))
                })?;
                out.push_str(&value.render());
                for _ in 0..rest[..=end].chars().count() {
                    chars.next();
                }
            }
            '}' => return Err(format!("single '}}' at byte {start} of the template; write '}}}}' for a brace")),
            other => out.push(other),
        }
    }
    Ok(Value::Text(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_template(template: &str, expected: Result<&str, &str>) {
        let x = Value::from(1);
        let name = Value::from("Ada");
        let args: BTreeMap<&str, &Value> = [("x", &x), ("name", &name)].into_iter().collect();

        let result = fill_template(template, &args);

        let expected = expected.map(Value::from).map_err(str::to_string);
        assert_eq!(result, expected, "template {template:?}");
    }

    #[test]
    fn templates_fill_and_escape() {
        check_template("x={x}", Ok("x=1"));
        check_template("{name} has {x} item", Ok("Ada has 1 item"));
        check_template("{{x}} is {x}", Ok("{x} is 1"));
        check_template("é{x}ü", Ok("é1ü"));
        check_template("{ x }", Ok("1"));
        check_template("{y}", Err("KeyError: no argument named 'y' (arguments: name, x)"));
        check_template("{x", Err("unclosed '{' at byte 0 of the template"));
        check_template("x}", Err("single '}' at byte 1 of the template; write '}}' for a brace"));
    }

    #[test]
    fn string_methods() {
        let text = Node::input("text", "  a b  ");

        assert_eq!(text.strip().value(), Value::from("a b"));
        assert_eq!(text.upper().value(), Value::from("  A B  "));
        assert_eq!(text.split("").value(), Value::from(vec!["a", "b"]));
        assert_eq!(Node::input("s", "a,b").split(",").value(), Value::from(vec!["a", "b"]));
        assert_eq!(Node::input("sep", "-").join(Value::from(vec!["a", "b"])).value(), Value::from("a-b"));
        assert_eq!(text.replace(" ", "").value(), Value::from("ab"));
        assert!(Node::input("n", 1).upper().is_exception());
    }

    #[test]
    fn format_with_non_text_template_is_exception() {
        let template = Node::input("t", 5);

        let out = format(&template, &[]);

        assert_eq!(out.error(), Some("format template must be a string, not 'int'"));
    }
}
