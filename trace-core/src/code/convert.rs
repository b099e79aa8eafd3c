//! Conversions between node values and JavaScript values, with JSON semantics.
//!
//! Into JavaScript go null, booleans, numbers, strings, arrays and plain objects, and an
//! extension value as its JSON form. An integer beyond 2^53 in magnitude goes in rounded
//! to the nearest double, as JSON parsers in JavaScript read it. Code values do not go in. Out of JavaScript come the
//! same types. A number with an integral value of at most 2^53 in magnitude becomes an
//! integer, as `JSON.parse` would make it. Inside containers, `undefined` becomes `null`
//! in arrays and drops out of objects, as `JSON.stringify` does.

use std::collections::BTreeMap;

use rquickjs::{Array, Ctx, Object, Type, Value as JsValue};

use crate::value::Value;

/// The deepest nesting of arrays and objects converted; deeper values (and cycles) fail.
const MAX_DEPTH: usize = 64;

/// The largest integer that a JavaScript number represents exactly, 2^53.
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_992.0;

/// Converts a node value into a JavaScript value.
pub(crate) fn to_js<'js>(ctx: &Ctx<'js>, value: &Value) -> Result<JsValue<'js>, String> {
    to_js_at(ctx, value, 0)
}

fn to_js_at<'js>(ctx: &Ctx<'js>, value: &Value, depth: usize) -> Result<JsValue<'js>, String> {
    if depth > MAX_DEPTH {
        return Err(format!("the value is nested deeper than {MAX_DEPTH} levels"));
    }
    let js = |result: rquickjs::Result<JsValue<'js>>| {
        result.map_err(|error| format!("failed to create a JavaScript value: {error}"))
    };
    match value {
        Value::Null => Ok(JsValue::new_null(ctx.clone())),
        Value::Bool(b) => Ok(JsValue::new_bool(ctx.clone(), *b)),
        Value::Int(i) => Ok(match i32::try_from(*i) {
            Ok(small) => JsValue::new_int(ctx.clone(), small),
            Err(_) => JsValue::new_float(ctx.clone(), *i as f64),
        }),
        Value::Float(f) => Ok(JsValue::new_float(ctx.clone(), *f)),
        Value::Text(s) => js(rquickjs::String::from_str(ctx.clone(), s).map(rquickjs::String::into_value)),
        Value::List(items) => {
            let array = Array::new(ctx.clone()).map_err(|error| format!("failed to create an array: {error}"))?;
            for (index, item) in items.iter().enumerate() {
                let item = to_js_at(ctx, item, depth + 1)?;
                array.set(index, item).map_err(|error| format!("failed to fill an array: {error}"))?;
            }
            Ok(array.into_value())
        }
        Value::Map(map) => {
            let object = Object::new(ctx.clone()).map_err(|error| format!("failed to create an object: {error}"))?;
            for (key, item) in map {
                let item = to_js_at(ctx, item, depth + 1)?;
                object.set(key.as_str(), item).map_err(|error| format!("failed to fill an object: {error}"))?;
            }
            Ok(object.into_value())
        }
        Value::Code(_) => Err("a code value cannot be passed to JavaScript; pass its result instead".to_string()),
        Value::Ext(ext) => match ext.to_json() {
            Some(json) => to_js_at(ctx, &Value::from_json(&json), depth),
            None => Err(format!(
                "a value of type `{}` has no JSON form, so it cannot be passed to JavaScript",
                ext.type_tag()
            )),
        },
    }
}

/// Converts a JavaScript return value into a node value.
///
/// # Errors
///
/// A message naming the JavaScript type when the value is `undefined`, a function, a
/// symbol or another value without a JSON form, or when it is nested too deeply.
pub(crate) fn from_js(value: &JsValue<'_>) -> Result<Value, String> {
    from_js_at(value, 0, "the return value")?.ok_or_else(|| {
        "the function returned `undefined`; it must return a value, for example with `return result;`".to_string()
    })
}

/// Converts an argument of a host function: `undefined` becomes `null`.
pub(crate) fn from_js_argument(value: &JsValue<'_>) -> Result<Value, String> {
    Ok(from_js_at(value, 0, "the value")?.unwrap_or(Value::Null))
}

/// Converts `value`, returning `None` for `undefined`.
fn from_js_at(value: &JsValue<'_>, depth: usize, path: &str) -> Result<Option<Value>, String> {
    if depth > MAX_DEPTH {
        return Err(format!("{path} is nested deeper than {MAX_DEPTH} levels, or contains a cycle"));
    }
    let converted = match value.type_of() {
        Type::Undefined | Type::Uninitialized => return Ok(None),
        Type::Null => Value::Null,
        Type::Bool => Value::Bool(value.as_bool().unwrap_or_default()),
        Type::Int => Value::Int(value.as_int().map(i64::from).unwrap_or_default()),
        Type::Float => number_value(value.as_float().unwrap_or(f64::NAN)),
        Type::String => match value.as_string().map(rquickjs::String::to_string) {
            Some(Ok(text)) => Value::Text(text),
            _ => return Err(format!("{path} is a string that is not valid UTF-16")),
        },
        Type::BigInt => match value.clone().into_big_int().map(rquickjs::BigInt::to_i64) {
            Some(Ok(integer)) => Value::Int(integer),
            _ => return Err(format!("{path} is a BigInt outside the range of a 64-bit integer")),
        },
        Type::Array => {
            let Some(array) = value.as_array() else { return Err(format!("{path} is an unreadable array")) };
            let mut items = Vec::with_capacity(array.len());
            for (index, item) in array.iter::<JsValue<'_>>().enumerate() {
                let item = item.map_err(|error| format!("{path}[{index}] could not be read: {error}"))?;
                let item_path = format!("{path}[{index}]");
                items.push(from_js_at(&item, depth + 1, &item_path)?.unwrap_or(Value::Null));
            }
            Value::List(items)
        }
        Type::Object | Type::Exception | Type::Proxy => {
            let Some(object) = value.as_object() else { return Err(format!("{path} is an unreadable object")) };
            let mut map = BTreeMap::new();
            for property in object.props::<String, JsValue<'_>>() {
                let (key, item) =
                    property.map_err(|error| format!("a property of {path} could not be read: {error}"))?;
                let item_path = format!("{path}.{key}");
                if let Some(item) = from_js_at(&item, depth + 1, &item_path)? {
                    map.insert(key, item);
                }
            }
            Value::Map(map)
        }
        Type::Function | Type::Constructor => {
            return Err(format!("{path} is a function, which has no JSON form; call it and return its result instead"));
        }
        Type::Promise => return Err(format!("{path} is a Promise; return the awaited value instead")),
        other => return Err(format!("{path} is of JavaScript type `{}`, which has no JSON form", other.as_str())),
    };
    Ok(Some(converted))
}

fn number_value(number: f64) -> Value {
    let is_integral = number.is_finite() && number.fract() == 0.0 && number.abs() <= MAX_SAFE_INTEGER;
    if is_integral { Value::Int(number as i64) } else { Value::Float(number) }
}

#[cfg(test)]
mod tests {
    use rquickjs::{Context, Runtime};

    use super::*;

    fn with_ctx(f: impl FnOnce(&Ctx<'_>)) {
        let runtime = Runtime::new().unwrap();
        let context = Context::full(&runtime).unwrap();
        context.with(|ctx| f(&ctx));
    }

    fn round_trip(value: Value) -> Value {
        let mut result = None;
        with_ctx(|ctx| {
            let js = to_js(ctx, &value).unwrap();
            result = Some(from_js(&js).unwrap());
        });
        result.unwrap()
    }

    fn convert(script: &str) -> Result<Value, String> {
        let mut result = None;
        with_ctx(|ctx| {
            let js: JsValue<'_> = ctx.eval(script).unwrap();
            result = Some(from_js(&js));
        });
        result.unwrap()
    }

    #[test]
    fn json_values_round_trip() {
        let json = serde_json::json!({"a": [1, 2.5, "s", null, true], "b": {"c": -7}, "big": 5_000_000_000_i64});

        let value = round_trip(Value::from_json(&json));

        assert_eq!(value.to_json(), json);
    }

    #[test]
    fn numbers_follow_json() {
        assert_eq!(convert("6 / 2"), Ok(Value::Int(3)));
        assert_eq!(convert("0.5"), Ok(Value::Float(0.5)));
        assert!(matches!(convert("1e308 * 10"), Ok(Value::Float(f)) if f.is_infinite()));
        assert_eq!(convert("10n"), Ok(Value::Int(10)));
    }

    #[test]
    fn undefined_inside_containers_follows_json_stringify() {
        assert_eq!(convert("[1, undefined]"), Ok(Value::List(vec![Value::Int(1), Value::Null])));
        assert_eq!(convert("({a: 1, b: undefined})").map(|v| v.render()), Ok(r#"{"a": 1}"#.to_string()));
    }

    #[test]
    fn values_without_json_form_are_errors() {
        assert_eq!(
            convert("undefined"),
            Err("the function returned `undefined`; it must return a value, for example with `return result;`"
                .to_string())
        );
        assert_eq!(
            convert("({f: function() {}})"),
            Err("the return value.f is a function, which has no JSON form; call it and return its result instead"
                .to_string())
        );
        assert!(convert("Symbol('s')").unwrap_err().contains("of JavaScript type `symbol`"));
        assert!(convert("const a = []; a.push(a); a").unwrap_err().contains("or contains a cycle"));
    }

    #[test]
    fn code_values_are_not_passed_in() {
        with_ctx(|ctx| {
            let error = to_js(ctx, &Value::Code("function f() {}".to_string())).unwrap_err();

            assert_eq!(error, "a code value cannot be passed to JavaScript; pass its result instead");
        });
    }
}
