//! Modules: structs that own parameters, with their state saved and loaded as JSON.
//!
//! The state is plain JSON, one entry per named parameter with its type tag and value, so
//! it can be read, diffed and edited by hand. This crate does no I/O: write the string
//! wherever it belongs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::node::Node;
use crate::value::Value;

/// The version written into saved states.
pub const STATE_VERSION: u32 = 1;

/// A struct that owns parameters.
///
/// ```
/// use trace_core::{Module, Node};
///
/// struct Agent {
///     prompt: Node,
///     temperature: Node,
/// }
///
/// impl Module for Agent {
///     fn named_parameters(&self) -> Vec<(String, Node)> {
///         vec![("prompt".into(), self.prompt.clone()), ("temperature".into(), self.temperature.clone())]
///     }
/// }
///
/// let agent = Agent { prompt: Node::parameter("prompt", "Be brief."), temperature: Node::parameter("t", 0.2) };
/// let saved = agent.save_json()?;
///
/// agent.prompt.set_value("Be verbose.")?;
/// agent.load_json(&saved)?;
///
/// assert_eq!(agent.prompt.value(), "Be brief.".into());
/// # Ok::<(), trace_core::Error>(())
/// ```
pub trait Module {
    /// The parameters with names that are unique within the module, such as `prompt` or
    /// `reader.prompt` for a nested module.
    fn named_parameters(&self) -> Vec<(String, Node)>;

    /// The parameters in the order of [`Module::named_parameters`].
    fn parameters(&self) -> Vec<Node> {
        self.named_parameters().into_iter().map(|(_, node)| node).collect()
    }

    /// The trainable parameters.
    fn trainable_parameters(&self) -> Vec<Node> {
        self.parameters().into_iter().filter(Node::is_trainable).collect()
    }

    /// The current values of all parameters.
    fn state(&self) -> ParameterState {
        let parameters = self
            .named_parameters()
            .into_iter()
            .map(|(name, node)| {
                let value = node.value_untracked();
                (name, SavedParameter { kind: value.type_tag().to_string(), value: value.to_json() })
            })
            .collect();
        ParameterState { version: STATE_VERSION, parameters }
    }

    /// Sets every parameter from `state`. Nothing is changed unless the whole state fits.
    ///
    /// # Errors
    ///
    /// [`Error::UnsupportedStateVersion`] for a state of a newer format,
    /// [`Error::MissingParameter`] when the state lacks a parameter of the module,
    /// [`Error::UnexpectedParameter`] when it has one the module lacks, and [`Error::Type`]
    /// when a saved value has another type than the parameter's current value.
    fn load_state(&self, state: &ParameterState) -> Result<()> {
        if state.version > STATE_VERSION {
            return Err(Error::UnsupportedStateVersion { found: state.version, supported: STATE_VERSION });
        }
        let named = self.named_parameters();
        if let Some(extra) = state.parameters.keys().find(|name| !named.iter().any(|(own, _)| own == *name)) {
            return Err(Error::UnexpectedParameter { name: extra.clone() });
        }

        let mut updates = Vec::with_capacity(named.len());
        for (name, node) in &named {
            let saved = state.parameters.get(name).ok_or_else(|| Error::MissingParameter { name: name.clone() })?;
            let current = node.value_untracked();
            updates.push((node, saved.to_value(name, &current)?));
        }

        for (node, value) in updates {
            node.set_value(value)?;
        }
        Ok(())
    }

    /// The state as pretty-printed JSON.
    ///
    /// # Errors
    ///
    /// [`Error::Json`] if serialization fails.
    fn save_json(&self) -> Result<String> {
        Ok(serde_json::to_string_pretty(&self.state())?)
    }

    /// Loads a state written by [`Module::save_json`].
    ///
    /// # Errors
    ///
    /// [`Error::Json`] for text that is not a saved state, and the errors of
    /// [`Module::load_state`].
    fn load_json(&self, json: &str) -> Result<()> {
        let state: ParameterState = serde_json::from_str(json)?;
        self.load_state(&state)
    }
}

impl Module for Vec<(String, Node)> {
    fn named_parameters(&self) -> Vec<(String, Node)> {
        self.clone()
    }
}

/// The saved values of a module's parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParameterState {
    /// The format version.
    pub version: u32,
    /// Parameters by name.
    pub parameters: BTreeMap<String, SavedParameter>,
}

/// One saved parameter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SavedParameter {
    /// The type tag of the value, such as `str`, `float` or `code`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The value as JSON.
    pub value: serde_json::Value,
}

impl SavedParameter {
    /// The saved value, checked against the parameter's current value.
    fn to_value(&self, name: &str, current: &Value) -> Result<Value> {
        let type_error = |found: &str| Error::Type {
            context: format!("saved parameter `{name}`"),
            expected: current.type_tag().to_string(),
            found: found.to_string(),
            value: Value::from_json(&self.value).preview(),
        };
        let value = match (self.kind.as_str(), &self.value) {
            ("code", serde_json::Value::String(source)) => Value::Code(source.clone()),
            ("code", _) => return Err(type_error("code without a string")),
            (_, json) => match current {
                Value::Ext(ext) => match ext.load_json(json) {
                    Some(Ok(value)) => value,
                    Some(Err(message)) => {
                        return Err(Error::Type {
                            context: format!("saved parameter `{name}`"),
                            expected: current.type_tag().to_string(),
                            found: self.kind.clone(),
                            value: message,
                        });
                    }
                    None => return Err(type_error(&self.kind)),
                },
                _ => Value::from_json(json),
            },
        };
        if self.kind != value.type_tag() && !(self.kind == "float" && matches!(value, Value::Int(_))) {
            return Err(type_error(&format!("{} declared as {}", value.type_tag(), self.kind)));
        }
        let value = match (current, value) {
            (Value::Float(_), Value::Int(i)) => Value::Float(i as f64),
            (_, value) => value,
        };
        if !current.accepts(&value) {
            return Err(type_error(value.type_tag()));
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module() -> Vec<(String, Node)> {
        vec![
            ("prompt".to_string(), Node::parameter("prompt", "Be brief.")),
            ("rate".to_string(), Node::parameter("rate", 0.5)),
            ("code".to_string(), Node::parameter("code", Value::Code("function f(x) { return x; }".into()))),
            ("tags".to_string(), Node::parameter("tags", Value::from(vec!["a"]))),
        ]
    }

    #[test]
    fn round_trip_restores_every_type() {
        let agent = module();
        let saved = agent.save_json().unwrap();
        for (_, node) in &agent {
            node.set_value(Value::Null).unwrap();
        }
        let fresh = module();

        fresh.load_json(&saved).unwrap();

        assert_eq!(fresh[0].1.value(), Value::from("Be brief."));
        assert_eq!(fresh[1].1.value(), Value::Float(0.5));
        assert!(matches!(fresh[2].1.value(), Value::Code(source) if source.contains("return x")));
        assert_eq!(fresh[3].1.value(), Value::from(vec!["a"]));
    }

    #[test]
    fn whole_floats_load_as_floats() {
        let agent = vec![("rate".to_string(), Node::parameter("rate", 1.0))];
        let saved = agent.save_json().unwrap();

        agent.load_json(&saved).unwrap();

        assert!(matches!(agent[0].1.value(), Value::Float(f) if f == 1.0));
    }

    #[test]
    fn missing_parameter_is_named() {
        let agent = module();
        let mut state = agent.state();
        state.parameters.remove("rate");

        let error = agent.load_state(&state).unwrap_err();

        assert!(matches!(&error, Error::MissingParameter { name } if name == "rate"), "{error}");
    }

    #[test]
    fn newer_state_version_is_rejected() {
        let agent = module();
        let mut state = agent.state();
        state.version = STATE_VERSION + 1;

        let error = agent.load_state(&state).unwrap_err();

        assert!(matches!(error, Error::UnsupportedStateVersion { found, .. } if found == STATE_VERSION + 1), "{error}");
    }

    #[test]
    fn extra_parameter_is_named() {
        let agent = module();
        let mut state = agent.state();
        state.parameters.insert("unknown".into(), SavedParameter { kind: "int".into(), value: 1.into() });

        let error = agent.load_state(&state).unwrap_err();

        assert!(matches!(&error, Error::UnexpectedParameter { name } if name == "unknown"), "{error}");
    }

    #[test]
    fn mistyped_parameter_changes_nothing() {
        let agent = module();
        let mut state = agent.state();
        state.parameters.insert("prompt".into(), SavedParameter { kind: "str".into(), value: "New.".into() });
        state.parameters.insert("rate".into(), SavedParameter { kind: "str".into(), value: "fast".into() });

        let error = agent.load_state(&state).unwrap_err();

        assert_eq!(error.to_string(), "saved parameter `rate`: expected a value of type `float`, found `str` (fast)");
        assert_eq!(agent[0].1.value(), Value::from("Be brief."));
    }

    #[test]
    fn declared_type_must_match_json() {
        let agent = module();
        let mut state = agent.state();
        state.parameters.insert("rate".into(), SavedParameter { kind: "float".into(), value: "0.5".into() });

        let error = agent.load_state(&state).unwrap_err();

        assert!(matches!(error, Error::Type { .. }), "{error}");
    }

    #[test]
    fn invalid_json_is_an_error() {
        assert!(matches!(module().load_json("{not json"), Err(Error::Json(_))));
    }
}
