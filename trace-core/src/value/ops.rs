//! Operator semantics on plain values, close to Python's so that the traced graph reads the
//! way users of the Python reference expect. Errors are messages for exception nodes.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use super::Value;

/// A binary arithmetic operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    /// `+`: numbers, string and list concatenation, map union.
    Add,
    /// `-`: numbers.
    Sub,
    /// `*`: numbers, and a string or list repeated an integer number of times.
    Mul,
    /// `/`: true division, always a float.
    Div,
    /// `%`: remainder with the sign of the divisor, as in Python.
    Rem,
    /// `**`: power.
    Pow,
}

impl BinaryOp {
    /// The operator name used as the op name of traced nodes: `add`, `sub`, ...
    pub fn name(self) -> &'static str {
        match self {
            BinaryOp::Add => "add",
            BinaryOp::Sub => "sub",
            BinaryOp::Mul => "mul",
            BinaryOp::Div => "div",
            BinaryOp::Rem => "rem",
            BinaryOp::Pow => "pow",
        }
    }

    /// The operator symbol, for error messages.
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Rem => "%",
            BinaryOp::Pow => "**",
        }
    }

    /// Applies the operator.
    pub fn apply(self, lhs: &Value, rhs: &Value) -> Result<Value, String> {
        if let Value::Ext(ext) = lhs
            && let Some(result) = ext.binary(self, rhs, true)
        {
            return result;
        }
        if let Value::Ext(ext) = rhs
            && let Some(result) = ext.binary(self, lhs, false)
        {
            return result;
        }

        match (self, lhs, rhs) {
            (_, Value::Int(a), Value::Int(b)) => int_op(self, *a, *b),
            (_, Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) => {
                float_op(self, as_f64(lhs), as_f64(rhs))
            }
            (BinaryOp::Add, Value::Text(a), Value::Text(b)) => Ok(Value::Text(format!("{a}{b}"))),
            (BinaryOp::Add, Value::List(a), Value::List(b)) => {
                Ok(Value::List(a.iter().chain(b.iter()).cloned().collect()))
            }
            (BinaryOp::Add, Value::Map(a), Value::Map(b)) => {
                let mut union: BTreeMap<String, Value> = a.clone();
                union.extend(b.iter().map(|(k, v)| (k.clone(), v.clone())));
                Ok(Value::Map(union))
            }
            (BinaryOp::Mul, Value::Text(s), Value::Int(n)) | (BinaryOp::Mul, Value::Int(n), Value::Text(s)) => {
                Ok(Value::Text(s.repeat(repeat_count(*n)?)))
            }
            (BinaryOp::Mul, Value::List(items), Value::Int(n)) | (BinaryOp::Mul, Value::Int(n), Value::List(items)) => {
                let count = repeat_count(*n)?;
                Ok(Value::List(items.iter().cycle().take(items.len() * count).cloned().collect()))
            }
            _ => Err(unsupported(self.symbol(), lhs, rhs)),
        }
    }
}

/// A comparison operator. Traced comparisons are named methods, so that `==` on nodes keeps
/// comparing node identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CompareOp {
    /// Equal.
    Eq,
    /// Not equal.
    Ne,
    /// Less than.
    Lt,
    /// Less than or equal.
    Le,
    /// Greater than.
    Gt,
    /// Greater than or equal.
    Ge,
}

impl CompareOp {
    /// The operator name used as the op name of traced nodes: `eq`, `lt`, ...
    pub fn name(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
        }
    }

    /// The operator symbol, for error messages.
    pub fn symbol(self) -> &'static str {
        match self {
            CompareOp::Eq => "==",
            CompareOp::Ne => "!=",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
        }
    }

    /// Applies the comparison. Equality works on every pair of values; ordering needs two
    /// numbers, two strings or two lists.
    pub fn apply(self, lhs: &Value, rhs: &Value) -> Result<Value, String> {
        let result = match self {
            CompareOp::Eq => lhs == rhs,
            CompareOp::Ne => lhs != rhs,
            ordering_op => {
                let ordering = order(lhs, rhs).ok_or_else(|| unsupported(self.symbol(), lhs, rhs))?;
                match ordering_op {
                    CompareOp::Lt => ordering == Ordering::Less,
                    CompareOp::Le => ordering != Ordering::Greater,
                    CompareOp::Gt => ordering == Ordering::Greater,
                    _ => ordering != Ordering::Less,
                }
            }
        };
        Ok(Value::Bool(result))
    }
}

fn order(lhs: &Value, rhs: &Value) -> Option<Ordering> {
    match (lhs, rhs) {
        (Value::Int(a), Value::Int(b)) => Some(a.cmp(b)),
        (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) => as_f64(lhs).partial_cmp(&as_f64(rhs)),
        (Value::Text(a), Value::Text(b)) => Some(a.cmp(b)),
        (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
        (Value::List(a), Value::List(b)) => {
            for (x, y) in a.iter().zip(b) {
                match order(x, y)? {
                    Ordering::Equal => continue,
                    unequal => return Some(unequal),
                }
            }
            Some(a.len().cmp(&b.len()))
        }
        _ => None,
    }
}

fn as_f64(value: &Value) -> f64 {
    match value {
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        _ => f64::NAN,
    }
}

fn int_op(op: BinaryOp, a: i64, b: i64) -> Result<Value, String> {
    let overflow = || format!("integer overflow in {a} {} {b}", op.symbol());
    match op {
        BinaryOp::Add => a.checked_add(b).map(Value::Int).ok_or_else(overflow),
        BinaryOp::Sub => a.checked_sub(b).map(Value::Int).ok_or_else(overflow),
        BinaryOp::Mul => a.checked_mul(b).map(Value::Int).ok_or_else(overflow),
        BinaryOp::Div => float_op(op, a as f64, b as f64),
        BinaryOp::Rem => {
            if b == 0 {
                return Err("integer modulo by zero".to_string());
            }
            let remainder = a.checked_rem(b).ok_or_else(overflow)?;
            let python_remainder = if remainder != 0 && (remainder < 0) != (b < 0) { remainder + b } else { remainder };
            Ok(Value::Int(python_remainder))
        }
        BinaryOp::Pow => {
            if b < 0 {
                return float_op(op, a as f64, b as f64);
            }
            let exponent = u32::try_from(b).map_err(|_| overflow())?;
            a.checked_pow(exponent).map(Value::Int).ok_or_else(overflow)
        }
    }
}

fn float_op(op: BinaryOp, a: f64, b: f64) -> Result<Value, String> {
    let result = match op {
        BinaryOp::Add => a + b,
        BinaryOp::Sub => a - b,
        BinaryOp::Mul => a * b,
        BinaryOp::Div => {
            if b == 0.0 {
                return Err("division by zero".to_string());
            }
            a / b
        }
        BinaryOp::Rem => {
            if b == 0.0 {
                return Err("float modulo by zero".to_string());
            }
            a - b * (a / b).floor()
        }
        BinaryOp::Pow => a.powf(b),
    };
    Ok(Value::Float(result))
}

fn repeat_count(n: i64) -> Result<usize, String> {
    const MAX_REPEAT: i64 = 1 << 20;
    if n > MAX_REPEAT {
        return Err(format!("repeat count {n} is above the limit of {MAX_REPEAT}"));
    }
    Ok(usize::try_from(n.max(0)).unwrap_or(0))
}

pub(crate) fn unsupported(symbol: &str, lhs: &Value, rhs: &Value) -> String {
    format!("unsupported operand types for {symbol}: '{}' and '{}'", lhs.type_tag(), rhs.type_tag())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(op: BinaryOp, lhs: impl Into<Value>, rhs: impl Into<Value>, expected: impl Into<Value>) {
        let (lhs, rhs, expected) = (lhs.into(), rhs.into(), expected.into());
        let result = op.apply(&lhs, &rhs);
        assert_eq!(result, Ok(expected), "{lhs:?} {} {rhs:?}", op.symbol());
    }

    fn check_error(op: BinaryOp, lhs: impl Into<Value>, rhs: impl Into<Value>, expected: &str) {
        let (lhs, rhs) = (lhs.into(), rhs.into());
        let error = op.apply(&lhs, &rhs).unwrap_err();
        assert_eq!(error, expected, "{lhs:?} {} {rhs:?}", op.symbol());
    }

    #[test]
    fn arithmetic_follows_python() {
        check(BinaryOp::Add, 2, 3, 5);
        check(BinaryOp::Add, 2, 0.5, 2.5);
        check(BinaryOp::Add, "ab", "cd", "abcd");
        check(BinaryOp::Add, vec![1], vec![2], vec![1, 2]);
        check(BinaryOp::Sub, 2, 5, -3);
        check(BinaryOp::Mul, "ab", 3, "ababab");
        check(BinaryOp::Mul, 2, vec![7], vec![7, 7]);
        check(BinaryOp::Div, 7, 2, 3.5);
        check(BinaryOp::Rem, -7, 3, 2);
        check(BinaryOp::Rem, 7, -3, -2);
        check(BinaryOp::Pow, 2, 10, 1024);
        check(BinaryOp::Pow, 2, -1, 0.5);
    }

    #[test]
    fn arithmetic_errors_are_messages() {
        check_error(BinaryOp::Add, "a", 1, "unsupported operand types for +: 'str' and 'int'");
        check_error(BinaryOp::Div, 1, 0, "division by zero");
        check_error(BinaryOp::Rem, 1, 0, "integer modulo by zero");
        check_error(BinaryOp::Mul, i64::MAX, 2, "integer overflow in 9223372036854775807 * 2");
        check_error(BinaryOp::Mul, "a", i64::MAX, "repeat count 9223372036854775807 is above the limit of 1048576");
    }

    #[test]
    fn comparisons_order_numbers_strings_lists() {
        let lt = |a: Value, b: Value| CompareOp::Lt.apply(&a, &b);

        assert_eq!(lt(Value::from(1), Value::from(1.5)), Ok(Value::Bool(true)));
        assert_eq!(lt(Value::from("b"), Value::from("a")), Ok(Value::Bool(false)));
        assert_eq!(lt(Value::from(vec![1, 2]), Value::from(vec![1, 3])), Ok(Value::Bool(true)));
        assert!(lt(Value::from("a"), Value::from(1)).is_err());
        assert_eq!(CompareOp::Eq.apply(&Value::from("a"), &Value::from(1)), Ok(Value::Bool(false)));
    }
}
