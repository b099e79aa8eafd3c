//! Converting a value from a reply to the type of the parameter it updates.

use serde_json::Value as Json;
use trace_core::Value;

use crate::reply::lenient;

/// Converts `json` to a value of the same type as `current`.
///
/// Numbers written as strings become numbers, integral floats become integers, `"true"`
/// becomes a boolean, and a string that contains a JSON list or map becomes that container. A
/// number or boolean given for a string parameter becomes its text. Code stays code.
///
/// # Errors
///
/// A message naming the expected type and the value, for the model to correct.
pub(crate) fn convert(json: &Json, current: &Value) -> Result<Value, String> {
    let mismatch = || format!("expected a value of type ({}), found {}", current.type_tag(), preview(json));
    match current {
        Value::Int(_) => to_int(json).map(Value::Int).ok_or_else(mismatch),
        Value::Float(_) => to_float(json).map(Value::Float).ok_or_else(mismatch),
        Value::Bool(_) => to_bool(json).map(Value::Bool).ok_or_else(mismatch),
        Value::Text(_) => to_text(json).map(Value::Text).ok_or_else(mismatch),
        Value::Code(_) => match json {
            Json::String(source) if !source.trim().is_empty() => Ok(Value::Code(source.clone())),
            _ => Err(format!("expected the source of the function as a string, found {}", preview(json))),
        },
        Value::List(_) => match parse_container(json) {
            Some(list @ Json::Array(_)) => Ok(Value::from_json(&list)),
            _ => Err(mismatch()),
        },
        Value::Map(_) => match parse_container(json) {
            Some(map @ Json::Object(_)) => Ok(Value::from_json(&map)),
            _ => Err(mismatch()),
        },
        Value::Null => Ok(Value::from_json(json)),
        Value::Ext(ext) => Err(format!("a parameter of type ({}) cannot be set from a reply", ext.type_tag())),
    }
}

/// Removes the `(type) key=` prefix from a string value, for models that copy the
/// `(type) key=value` form of the prompt into their reply.
pub(crate) fn strip_rendered_key(json: &Json, key: &str) -> Json {
    let Json::String(text) = json else { return json.clone() };
    let trimmed = text.trim_start();
    let after_tag = match trimmed.strip_prefix('(').and_then(|rest| rest.split_once(')')) {
        Some((_, rest)) => rest.trim_start(),
        None => trimmed,
    };
    match after_tag.strip_prefix(key).and_then(|rest| rest.trim_start().strip_prefix('=')) {
        Some(value) => Json::String(value.trim_start().to_string()),
        None => json.clone(),
    }
}

fn to_int(json: &Json) -> Option<i64> {
    match json {
        Json::Number(number) => number.as_i64().or_else(|| number.as_f64().and_then(integral)),
        Json::String(text) => {
            let text = text.trim();
            text.parse::<i64>().ok().or_else(|| text.parse::<f64>().ok().and_then(integral))
        }
        _ => None,
    }
}

/// Returns `f` as an integer when it has no fractional part and fits in `i64`.
fn integral(f: f64) -> Option<i64> {
    // The bounds are exact powers of two, so the comparison is exact.
    let in_range = (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f);
    (f.fract() == 0.0 && in_range).then_some(f as i64)
}

fn to_float(json: &Json) -> Option<f64> {
    let value = match json {
        Json::Number(number) => number.as_f64(),
        Json::String(text) => text.trim().parse::<f64>().ok(),
        _ => None,
    }?;
    value.is_finite().then_some(value)
}

fn to_bool(json: &Json) -> Option<bool> {
    match json {
        Json::Bool(b) => Some(*b),
        Json::String(text) => match text.trim().to_ascii_lowercase().as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

fn to_text(json: &Json) -> Option<String> {
    match json {
        Json::String(text) => Some(text.clone()),
        Json::Number(number) => Some(number.to_string()),
        Json::Bool(b) => Some(b.to_string()),
        Json::Null | Json::Array(_) | Json::Object(_) => None,
    }
}

/// Parses a list or map, also when the model wrote it as a string.
fn parse_container(json: &Json) -> Option<Json> {
    match json {
        Json::Array(_) | Json::Object(_) => Some(json.clone()),
        Json::String(text) => {
            lenient::parse_value(text.trim()).filter(|parsed| !parsed.truncated).map(|parsed| parsed.value)
        }
        _ => None,
    }
}

/// Renders a reply value in at most 80 characters, for error messages.
pub(crate) fn preview(json: &Json) -> String {
    const MAX_CHARS: usize = 80;
    let text = json.to_string();
    if text.chars().count() <= MAX_CHARS {
        return text;
    }
    let cut: String = text.chars().take(MAX_CHARS).collect();
    format!("{cut}...")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn converts_to_parameter_type() {
        let cases = [
            (json!("3"), Value::Int(0), Value::Int(3)),
            (json!(" 3.0 "), Value::Int(0), Value::Int(3)),
            (json!(4.0), Value::Int(0), Value::Int(4)),
            (json!(2), Value::Float(0.5), Value::Float(2.0)),
            (json!("2.5"), Value::Float(0.5), Value::Float(2.5)),
            (json!("True"), Value::Bool(false), Value::Bool(true)),
            (json!(5), Value::from("s"), Value::from("5")),
            (json!("function f() {}"), Value::Code("x".into()), Value::Code("function f() {}".into())),
            (json!("[1, 2]"), Value::from(vec![Value::Int(0)]), Value::from(vec![Value::Int(1), Value::Int(2)])),
            (json!({"a": 1}), Value::Map(Default::default()), Value::from_json(&json!({"a": 1}))),
            (json!([1]), Value::Null, Value::from(vec![Value::Int(1)])),
        ];

        for (json, current, expected) in cases {
            assert_eq!(convert(&json, &current), Ok(expected), "{json} for a {}", current.type_tag());
        }
    }

    #[test]
    fn rejects_wrong_types() {
        let cases = [
            (json!("three"), Value::Int(0)),
            (json!(2.5), Value::Int(0)),
            (json!("NaN"), Value::Float(0.0)),
            (json!([1]), Value::from("s")),
            (json!(1), Value::Code("x".into())),
            (json!(" "), Value::Code("x".into())),
            (json!("yes"), Value::Bool(true)),
            (json!({"a": 1}), Value::from(vec![Value::Int(0)])),
        ];

        for (json, current) in cases {
            assert!(convert(&json, &current).is_err(), "{json} for a {}", current.type_tag());
        }
    }

    #[test]
    fn strips_rendered_key() {
        assert_eq!(strip_rendered_key(&json!("(int) x0=5"), "x0"), json!("5"));
        assert_eq!(strip_rendered_key(&json!("x0 = hello"), "x0"), json!("hello"));
        assert_eq!(strip_rendered_key(&json!("(str) y0=5"), "x0"), json!("(str) y0=5"));
        assert_eq!(strip_rendered_key(&json!("a = b"), "x0"), json!("a = b"));
        assert_eq!(strip_rendered_key(&json!(5), "x0"), json!(5));
    }

    #[test]
    fn error_names_type_and_value() {
        let error = convert(&json!("three"), &Value::Int(0)).unwrap_err();

        assert_eq!(error, r#"expected a value of type (int), found "three""#);
    }
}
