//! Mapping the variable names an LLM writes to parameter keys.
//!
//! Besides the exact key (`x0`), a name may be the key with a colon (`x:0`), which is the
//! form of the Python reference. It may also be the base name without its counter (`x`)
//! when exactly one variable has that base, or the name of the JavaScript function that a
//! code parameter defines. A name that fits several variables is ambiguous and resolves
//! to none.

use trace_core::{Node, Value};

/// A variable the reply may update.
#[derive(Clone, Debug)]
pub(crate) struct Variable {
    pub(crate) key: String,
    pub(crate) node: Node,
    /// The value whose type a new value must have.
    pub(crate) current: Value,
    /// The function name of a code parameter, from its constraint or its source.
    pub(crate) function_name: Option<String>,
}

impl Variable {
    pub(crate) fn of(node: &Node) -> Variable {
        let current = node.value();
        let function_name = match &current {
            Value::Code(source) => {
                node.constraint().as_deref().and_then(function_name).or_else(|| function_name(source))
            }
            _ => None,
        };
        Variable { key: node.key().to_string(), node: node.clone(), current, function_name }
    }
}

/// The outcome of resolving one name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Resolved {
    /// The index of the variable.
    Found(usize),
    /// The name fits several variables, whose keys are listed.
    Ambiguous(Vec<String>),
    /// The name fits no variable.
    Unknown,
}

/// Resolves names against a fixed list of variables.
#[derive(Clone, Debug)]
pub(crate) struct KeyResolver {
    variables: Vec<Variable>,
}

impl KeyResolver {
    pub(crate) fn new(variables: Vec<Variable>) -> KeyResolver {
        KeyResolver { variables }
    }

    pub(crate) fn variables(&self) -> &[Variable] {
        &self.variables
    }

    /// Returns the keys of the variables, in order.
    pub(crate) fn keys(&self) -> Vec<String> {
        self.variables.iter().map(|variable| variable.key.clone()).collect()
    }

    /// Every name that resolves to a variable, for searching free text: keys, colon forms,
    /// unambiguous base names and function names.
    pub(crate) fn searchable_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        for variable in &self.variables {
            names.push(variable.key.clone());
            if let Some(colon) = colon_form(&variable.key) {
                names.push(colon);
            }
            let base = base_name(&variable.key);
            if base != variable.key && matches!(self.resolve(base), Resolved::Found(_)) {
                names.push(base.to_string());
            }
            if let Some(function) = &variable.function_name {
                names.push(function.clone());
            }
        }
        // Longer names first, so that `x10` is looked up before `x1`.
        names.sort_by_key(|name| std::cmp::Reverse(name.len()));
        names.dedup();
        names
    }

    /// Resolves `name` as written in a reply.
    pub(crate) fn resolve(&self, name: &str) -> Resolved {
        let name = clean(name);
        if name.is_empty() {
            return Resolved::Unknown;
        }

        let rules: [&dyn Fn(&Variable) -> bool; 5] = [
            &|variable| variable.key == name,
            &|variable| !name.contains(':') && variable.key.eq_ignore_ascii_case(name),
            &|variable| name.contains(':') && variable.key == name.replace(':', ""),
            &|variable| base_name(&variable.key) == name,
            &|variable| variable.function_name.as_deref() == Some(name),
        ];
        for rule in rules {
            let matches: Vec<usize> = (0..self.variables.len()).filter(|&index| rule(&self.variables[index])).collect();
            match matches.as_slice() {
                [] => continue,
                [index] => return Resolved::Found(*index),
                _ => {
                    return Resolved::Ambiguous(
                        matches.iter().map(|&index| self.variables[index].key.clone()).collect(),
                    );
                }
            }
        }
        Resolved::Unknown
    }
}

/// Strips what models put around a key: white space, quotes, backticks, a `#`, and a
/// leading type tag such as `(int) `.
fn clean(name: &str) -> &str {
    let mut name = name.trim().trim_matches(['"', '\'', '`', '#', '*']).trim();
    if name.starts_with('(')
        && let Some(close) = name.find(')')
    {
        name = name[close + 1..].trim();
    }
    name
}

/// Strips the trailing counter from a key: `x` for `x0`, `x1` for `x1_0`, `__code` for
/// `__code3`.
fn base_name(key: &str) -> &str {
    let base = key.trim_end_matches(|c: char| c.is_ascii_digit());
    if base.len() == key.len() || base.is_empty() {
        return key;
    }
    match base.strip_suffix('_') {
        Some(stripped) if stripped.ends_with(|c: char| c.is_ascii_digit()) => stripped,
        _ => base,
    }
}

/// `x:0` for `x0`, the key form of the Python reference.
fn colon_form(key: &str) -> Option<String> {
    let base = base_name(key);
    if base == key {
        return None;
    }
    let counter = key[base.len()..].trim_start_matches('_');
    Some(format!("{base}:{counter}"))
}

/// Finds the name in the first `function name(` of `text`.
pub(crate) fn function_name(text: &str) -> Option<String> {
    for (start, _) in text.match_indices("function") {
        let before = text[..start].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        let rest = text[start + "function".len()..].trim_start_matches([' ', '*']);
        let length = rest.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$')).unwrap_or(rest.len());
        if length > 0 && rest[length..].trim_start().starts_with('(') {
            return Some(rest[..length].to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use trace_core::Parameter;

    use super::*;

    fn variable(key: &str, current: Value, constraint: Option<&str>) -> Variable {
        let node = match constraint {
            Some(text) => Parameter::new("v", current.clone()).constraint(text).build(),
            None => Node::parameter("v", current.clone()),
        };
        let mut variable = Variable::of(&node);
        variable.key = key.to_string();
        variable
    }

    fn resolver() -> KeyResolver {
        KeyResolver::new(vec![
            variable("x0", Value::Int(1), None),
            variable("prompt0", Value::from("hi"), None),
            variable("prompt1", Value::from("ho"), None),
            variable("__code2", Value::Code("function score(a, b) { return a; }".into()), Some("function score(a, b)")),
            variable("x1_0", Value::Int(1), None),
        ])
    }

    #[test]
    fn resolves_aliases() {
        let cases = [
            ("x0", Resolved::Found(0)),
            ("X0", Resolved::Found(0)),
            ("x:0", Resolved::Found(0)),
            ("(int) x0", Resolved::Found(0)),
            ("`x0`", Resolved::Found(0)),
            ("x", Resolved::Found(0)),
            ("score", Resolved::Found(3)),
            ("__code", Resolved::Found(3)),
            ("__code:2", Resolved::Found(3)),
            ("x1", Resolved::Found(4)),
            ("prompt", Resolved::Ambiguous(vec!["prompt0".into(), "prompt1".into()])),
            ("add0", Resolved::Unknown),
            ("int", Resolved::Unknown),
            ("", Resolved::Unknown),
        ];
        let resolver = resolver();

        for (name, expected) in cases {
            assert_eq!(resolver.resolve(name), expected, "name {name:?}");
        }
    }

    #[test]
    fn searchable_names_skip_ambiguous_bases() {
        let names = resolver().searchable_names();

        assert!(names.contains(&"x:0".to_string()));
        assert!(names.contains(&"score".to_string()));
        assert!(names.contains(&"x1".to_string()));
        assert!(!names.contains(&"prompt".to_string()));
    }

    #[test]
    fn finds_function_names() {
        assert_eq!(function_name("async function solve (x) {}"), Some("solve".to_string()));
        assert_eq!(function_name("function* gen() {}"), Some("gen".to_string()));
        assert_eq!(function_name("const f = function(x) {}"), None);
        assert_eq!(function_name("myfunction f() {}"), None);
    }
}
