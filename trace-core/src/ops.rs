//! Traced operators on nodes: arithmetic through `std::ops`, comparisons and logic as named
//! methods, and conversions. Strings live in `ops/text.rs`, containers in `ops/container.rs`.
//!
//! Every operator returns a [`Node`]: a message node with the operands as named parents, or
//! an exception node when the operation fails (a type mismatch, a division by zero), so that
//! the failure can be sent back as feedback. Use [`Node::into_result`] to turn an exception
//! into a Rust error.

mod container;
mod text;

use std::ops::{Add, Div, Mul, Neg, Rem, Sub};

pub use container::{dict, list};
pub use text::format;

use crate::node::Node;
use crate::op::builtin_op;
use crate::value::{BinaryOp, CompareOp, Value};

/// Something that can be an operand of a traced operator: a node, or a plain value that
/// becomes a constant node.
pub trait IntoNode {
    /// The node for this operand.
    fn into_node(self) -> Node;
}

impl IntoNode for Node {
    fn into_node(self) -> Node {
        self
    }
}

impl IntoNode for &Node {
    fn into_node(self) -> Node {
        self.clone()
    }
}

macro_rules! into_node_as_constant {
    ($($ty:ty),*) => {$(
        impl IntoNode for $ty {
            fn into_node(self) -> Node {
                Node::constant(self)
            }
        }
    )*};
}
into_node_as_constant!(Value, bool, i32, i64, usize, f32, f64, &str, String);

builtin_op!(ADD, "add", "[add] Adds x and y: numbers, or concatenates strings or lists.", ["x", "y"]);
builtin_op!(SUB, "sub", "[sub] Subtracts y from x.", ["x", "y"]);
builtin_op!(MUL, "mul", "[mul] Multiplies x by y, or repeats a string or list.", ["x", "y"]);
builtin_op!(DIV, "div", "[div] Divides x by y; the result is a float.", ["x", "y"]);
builtin_op!(REM, "rem", "[rem] The remainder of x divided by y, with the sign of y.", ["x", "y"]);
builtin_op!(POW, "pow", "[pow] Raises x to the power y.", ["x", "y"]);
builtin_op!(NEG, "neg", "[neg] Negates x.", ["x"]);
builtin_op!(EQ, "eq", "[eq] Whether x equals y.", ["x", "y"]);
builtin_op!(NE, "ne", "[ne] Whether x differs from y.", ["x", "y"]);
builtin_op!(LT, "lt", "[lt] Whether x is less than y.", ["x", "y"]);
builtin_op!(LE, "le", "[le] Whether x is less than or equal to y.", ["x", "y"]);
builtin_op!(GT, "gt", "[gt] Whether x is greater than y.", ["x", "y"]);
builtin_op!(GE, "ge", "[ge] Whether x is greater than or equal to y.", ["x", "y"]);
builtin_op!(AND, "and", "[and] Whether both x and y are true (Python truthiness).", ["x", "y"]);
builtin_op!(OR, "or", "[or] Whether x or y is true (Python truthiness).", ["x", "y"]);
builtin_op!(NOT, "not", "[not] Whether x is false (Python truthiness).", ["x"]);
builtin_op!(TO_INT, "int", "[int] Converts x to an integer.", ["x"]);
builtin_op!(TO_FLOAT, "float", "[float] Converts x to a float.", ["x"]);
builtin_op!(TO_STR, "str", "[str] Converts x to a string.", ["x"]);
builtin_op!(TO_BOOL, "bool", "[bool] Converts x to a boolean (Python truthiness).", ["x"]);
builtin_op!(IDENTITY, "identity", "[identity] Returns a copy of x.", ["x"]);

fn binary(op: BinaryOp, x: Node, y: Node) -> Node {
    let spec = match op {
        BinaryOp::Add => &ADD,
        BinaryOp::Sub => &SUB,
        BinaryOp::Mul => &MUL,
        BinaryOp::Div => &DIV,
        BinaryOp::Rem => &REM,
        BinaryOp::Pow => &POW,
    };
    spec.apply(vec![x, y], |values| op.apply(&values[0], &values[1]))
}

macro_rules! std_binary_op {
    ($trait:ident, $method:ident, $op:expr) => {
        impl<R: IntoNode> $trait<R> for &Node {
            type Output = Node;

            fn $method(self, rhs: R) -> Node {
                binary($op, self.clone(), rhs.into_node())
            }
        }

        impl<R: IntoNode> $trait<R> for Node {
            type Output = Node;

            fn $method(self, rhs: R) -> Node {
                binary($op, self, rhs.into_node())
            }
        }
    };
}
std_binary_op!(Add, add, BinaryOp::Add);
std_binary_op!(Sub, sub, BinaryOp::Sub);
std_binary_op!(Mul, mul, BinaryOp::Mul);
std_binary_op!(Div, div, BinaryOp::Div);
std_binary_op!(Rem, rem, BinaryOp::Rem);

impl Neg for &Node {
    type Output = Node;

    fn neg(self) -> Node {
        NEG.apply(vec![self.clone()], |values| match &values[0] {
            Value::Int(i) => i.checked_neg().map(Value::Int).ok_or_else(|| format!("integer overflow in -{i}")),
            Value::Float(f) => Ok(Value::Float(-f)),
            Value::Ext(ext) => ext
                .binary(BinaryOp::Mul, &Value::Int(-1), true)
                .unwrap_or_else(|| Err(format!("bad operand type for unary -: '{}'", ext.type_tag()))),
            other => Err(format!("bad operand type for unary -: '{}'", other.type_tag())),
        })
    }
}

impl Neg for Node {
    type Output = Node;

    fn neg(self) -> Node {
        -&self
    }
}

impl Node {
    /// Traced `x ** y`.
    pub fn pow(&self, y: impl IntoNode) -> Node {
        binary(BinaryOp::Pow, self.clone(), y.into_node())
    }

    fn compare(&self, op: CompareOp, y: impl IntoNode) -> Node {
        let spec = match op {
            CompareOp::Eq => &EQ,
            CompareOp::Ne => &NE,
            CompareOp::Lt => &LT,
            CompareOp::Le => &LE,
            CompareOp::Gt => &GT,
            CompareOp::Ge => &GE,
        };
        spec.apply(vec![self.clone(), y.into_node()], |values| op.apply(&values[0], &values[1]))
    }

    /// Traced `x == y`. `==` itself compares node identity and is not traced.
    pub fn equals(&self, y: impl IntoNode) -> Node {
        self.compare(CompareOp::Eq, y)
    }

    /// Traced `x != y`.
    pub fn not_equals(&self, y: impl IntoNode) -> Node {
        self.compare(CompareOp::Ne, y)
    }

    /// Traced `x < y`.
    pub fn less_than(&self, y: impl IntoNode) -> Node {
        self.compare(CompareOp::Lt, y)
    }

    /// Traced `x <= y`.
    pub fn less_equal(&self, y: impl IntoNode) -> Node {
        self.compare(CompareOp::Le, y)
    }

    /// Traced `x > y`.
    pub fn greater_than(&self, y: impl IntoNode) -> Node {
        self.compare(CompareOp::Gt, y)
    }

    /// Traced `x >= y`.
    pub fn greater_equal(&self, y: impl IntoNode) -> Node {
        self.compare(CompareOp::Ge, y)
    }

    /// Traced logical and of the truthiness of both operands.
    pub fn and(&self, y: impl IntoNode) -> Node {
        AND.apply(vec![self.clone(), y.into_node()], |values| {
            Ok(Value::Bool(values[0].is_truthy() && values[1].is_truthy()))
        })
    }

    /// Traced logical or of the truthiness of both operands.
    pub fn or(&self, y: impl IntoNode) -> Node {
        OR.apply(vec![self.clone(), y.into_node()], |values| {
            Ok(Value::Bool(values[0].is_truthy() || values[1].is_truthy()))
        })
    }

    /// Traced logical not of the operand's truthiness.
    pub fn not(&self) -> Node {
        NOT.apply(vec![self.clone()], |values| Ok(Value::Bool(!values[0].is_truthy())))
    }

    /// Traced conversion to an integer: floats are truncated, strings parsed.
    pub fn to_int(&self) -> Node {
        TO_INT.apply(vec![self.clone()], |values| match &values[0] {
            Value::Int(i) => Ok(Value::Int(*i)),
            Value::Bool(b) => Ok(Value::Int(i64::from(*b))),
            Value::Float(f) if f.is_finite() && f.abs() < 9.2e18 => Ok(Value::Int(f.trunc() as i64)),
            Value::Text(s) => {
                s.trim().parse::<i64>().map(Value::Int).map_err(|_| format!("invalid literal for int(): {s:?}"))
            }
            other => Err(format!("int() argument must be a string or a number, not '{}'", other.type_tag())),
        })
    }

    /// Traced conversion to a float: strings are parsed.
    pub fn to_float(&self) -> Node {
        TO_FLOAT.apply(vec![self.clone()], |values| match &values[0] {
            Value::Int(i) => Ok(Value::Float(*i as f64)),
            Value::Float(f) => Ok(Value::Float(*f)),
            Value::Bool(b) => Ok(Value::Float(f64::from(u8::from(*b)))),
            Value::Text(s) => s
                .trim()
                .parse::<f64>()
                .map(Value::Float)
                .map_err(|_| format!("could not convert string to float: {s:?}")),
            other => Err(format!("float() argument must be a string or a number, not '{}'", other.type_tag())),
        })
    }

    /// Traced conversion to a string, as the value renders in a prompt.
    pub fn to_text(&self) -> Node {
        TO_STR.apply(vec![self.clone()], |values| Ok(Value::Text(values[0].render())))
    }

    /// Traced conversion to a boolean by truthiness.
    pub fn to_bool(&self) -> Node {
        TO_BOOL.apply(vec![self.clone()], |values| Ok(Value::Bool(values[0].is_truthy())))
    }

    /// A traced copy: a message node whose only parent is this node. Unlike
    /// [`Clone::clone`], which copies the handle, this adds a step to the graph.
    pub fn traced_clone(&self) -> Node {
        IDENTITY.apply(vec![self.clone()], |values| Ok(values[0].clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::NodeKind;

    fn arg_names(node: &Node) -> Vec<&str> {
        node.inputs().map(|(name, _)| name).collect()
    }

    #[test]
    fn add_records_named_parents() {
        let x = Node::parameter("x", 2);
        let y = Node::input("y", 3);

        let z = &x + &y;

        assert_eq!(z.value(), Value::from(5));
        assert_eq!(z.op_name(), Some("add"));
        assert_eq!(arg_names(&z), ["x", "y"]);
        assert_eq!(z.parents(), [x, y]);
    }

    #[test]
    fn literal_operands_become_constants() {
        let x = Node::parameter("x", 2.5);

        let z = &x * 2;

        assert_eq!(z.value(), Value::from(5.0));
        let constant = &z.parents()[1];
        assert!(constant.key().starts_with("int"));
        assert!(!constant.is_trainable());
    }

    #[test]
    fn failing_operator_becomes_exception_node() {
        let x = Node::parameter("x", "text");

        let z = &x - 1;

        assert_eq!(z.kind(), NodeKind::Exception);
        assert!(z.key().starts_with("exception_sub"));
        assert_eq!(z.error(), Some("unsupported operand types for -: 'str' and 'int'"));
        assert_eq!(z.parents().len(), 2);
        assert!(z.into_result().is_err());
    }

    #[test]
    fn comparisons_are_traced_methods() {
        let x = Node::parameter("x", 3);

        let checks = [
            (x.equals(3), true),
            (x.not_equals(3), false),
            (x.less_than(4), true),
            (x.less_equal(2), false),
            (x.greater_than(2.5), true),
            (x.greater_equal(3), true),
        ];

        for (node, expected) in checks {
            assert_eq!(node.value(), Value::Bool(expected), "{}", node.description());
            assert_eq!(node.parents()[0], x);
        }
    }

    #[test]
    fn logic_uses_truthiness() {
        let empty = Node::input("s", "");
        let one = Node::input("n", 1);

        assert_eq!(empty.or(&one).value(), Value::Bool(true));
        assert_eq!(empty.and(&one).value(), Value::Bool(false));
        assert_eq!(empty.not().value(), Value::Bool(true));
    }

    #[test]
    fn conversions_parse_and_report() {
        assert_eq!(Node::input("s", " 42 ").to_int().value(), Value::Int(42));
        assert_eq!(Node::input("s", "2.5").to_float().value(), Value::Float(2.5));
        assert_eq!(Node::input("n", 7).to_text().value(), Value::from("7"));
        assert_eq!(Node::input("f", 2.9).to_int().value(), Value::Int(2));
        assert_eq!(Node::input("s", "x").to_int().error(), Some("invalid literal for int(): \"x\""));
    }

    #[test]
    fn negation_and_power() {
        let x = Node::parameter("x", 3);

        assert_eq!((-&x).value(), Value::Int(-3));
        assert_eq!(x.pow(2).value(), Value::Int(9));
        assert!(Node::input("s", "a").neg().is_exception());
    }

    #[test]
    fn traced_clone_adds_a_step() {
        let x = Node::parameter("x", 1);

        let copy = x.traced_clone();

        assert_eq!(copy.parents(), std::slice::from_ref(&x));
        assert_eq!(copy.value(), x.value());
        assert_ne!(copy, x);
    }
}
