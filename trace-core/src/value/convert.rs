//! Conversions between [`Value`] and Rust types, used by typed bundles.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use super::{ExtValue, Value};

/// A value had a different type than a conversion required.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypeError {
    /// The required type.
    pub expected: String,
    /// The type tag of the value found.
    pub found: String,
    /// A short rendering of the value found.
    pub value: String,
}

impl TypeError {
    /// A type error for `value`, which should have been of type `expected`.
    pub fn new(expected: impl Into<String>, value: &Value) -> TypeError {
        TypeError { expected: expected.into(), found: value.type_tag().to_string(), value: value.preview() }
    }
}

impl fmt::Display for TypeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "expected a value of type `{}`, found `{}` ({})", self.expected, self.found, self.value)
    }
}

impl std::error::Error for TypeError {}

/// Conversion from a node value into a Rust type.
pub trait FromValue: Sized {
    /// Converts `value`, or reports its type.
    fn from_value(value: &Value) -> Result<Self, TypeError>;
}

impl FromValue for Value {
    fn from_value(value: &Value) -> Result<Self, TypeError> {
        Ok(value.clone())
    }
}

impl FromValue for bool {
    fn from_value(value: &Value) -> Result<Self, TypeError> {
        match value {
            Value::Bool(b) => Ok(*b),
            other => Err(TypeError::new("bool", other)),
        }
    }
}

impl FromValue for i64 {
    fn from_value(value: &Value) -> Result<Self, TypeError> {
        match value {
            Value::Int(i) => Ok(*i),
            other => Err(TypeError::new("int", other)),
        }
    }
}

impl FromValue for f64 {
    fn from_value(value: &Value) -> Result<Self, TypeError> {
        match value {
            Value::Float(f) => Ok(*f),
            Value::Int(i) => Ok(*i as f64),
            other => Err(TypeError::new("float", other)),
        }
    }
}

impl FromValue for String {
    fn from_value(value: &Value) -> Result<Self, TypeError> {
        match value {
            Value::Text(s) | Value::Code(s) => Ok(s.clone()),
            other => Err(TypeError::new("str", other)),
        }
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(value: &Value) -> Result<Self, TypeError> {
        match value {
            Value::Null => Ok(None),
            other => T::from_value(other).map(Some),
        }
    }
}

impl<T: FromValue> FromValue for Vec<T> {
    fn from_value(value: &Value) -> Result<Self, TypeError> {
        match value {
            Value::List(items) => items.iter().map(T::from_value).collect(),
            other => Err(TypeError::new("list", other)),
        }
    }
}

impl<T: FromValue> FromValue for BTreeMap<String, T> {
    fn from_value(value: &Value) -> Result<Self, TypeError> {
        match value {
            Value::Map(map) => map.iter().map(|(k, v)| Ok((k.clone(), T::from_value(v)?))).collect(),
            other => Err(TypeError::new("dict", other)),
        }
    }
}

impl FromValue for serde_json::Value {
    fn from_value(value: &Value) -> Result<Self, TypeError> {
        Ok(value.to_json())
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

macro_rules! from_int {
    ($($ty:ty),*) => {$(
        impl From<$ty> for Value {
            fn from(i: $ty) -> Value {
                Value::Int(i64::from(i))
            }
        }
    )*};
}
from_int!(i8, i16, i32, i64, u8, u16, u32);

impl From<usize> for Value {
    /// Converts a count or index; values above `i64::MAX` saturate.
    fn from(i: usize) -> Value {
        Value::Int(i64::try_from(i).unwrap_or(i64::MAX))
    }
}

impl From<f64> for Value {
    fn from(f: f64) -> Value {
        Value::Float(f)
    }
}

impl From<f32> for Value {
    fn from(f: f32) -> Value {
        Value::Float(f64::from(f))
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Text(s)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Text(s.to_string())
    }
}

impl From<()> for Value {
    fn from((): ()) -> Value {
        Value::Null
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(option: Option<T>) -> Value {
        option.map_or(Value::Null, Into::into)
    }
}

impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(items: Vec<T>) -> Value {
        Value::List(items.into_iter().map(Into::into).collect())
    }
}

impl<T: Into<Value>> From<BTreeMap<String, T>> for Value {
    fn from(map: BTreeMap<String, T>) -> Value {
        Value::Map(map.into_iter().map(|(k, v)| (k, v.into())).collect())
    }
}

impl From<serde_json::Value> for Value {
    fn from(json: serde_json::Value) -> Value {
        Value::from_json(&json)
    }
}

impl From<Arc<dyn ExtValue>> for Value {
    fn from(ext: Arc<dyn ExtValue>) -> Value {
        Value::Ext(ext)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_conversions_round_trip() {
        assert_eq!(i64::from_value(&Value::from(7)), Ok(7));
        assert_eq!(f64::from_value(&Value::from(7)), Ok(7.0));
        assert_eq!(String::from_value(&Value::from("a")), Ok("a".to_string()));
        assert_eq!(Vec::<i64>::from_value(&Value::from(vec![1, 2])), Ok(vec![1, 2]));
        assert_eq!(Option::<i64>::from_value(&Value::Null), Ok(None));
    }

    #[test]
    fn wrong_type_names_expected_and_found() {
        let error = i64::from_value(&Value::from("seven")).unwrap_err();

        assert_eq!(error.expected, "int");
        assert_eq!(error.found, "str");
        assert_eq!(error.to_string(), "expected a value of type `int`, found `str` (seven)");
    }
}
