//! Traced operators on lists, maps and strings as sequences: length, indexing, slicing,
//! membership, and building new lists and maps.
//!
//! Containers are values, so operators that "change" one return a new node with the new
//! container and leave the input as it was.

use crate::node::Node;
use crate::op::{OpSpec, builtin_op};
use crate::ops::IntoNode;
use crate::value::Value;

builtin_op!(LEN, "len", "[len] The number of items of a list or map, or of characters of a string.", ["x"]);
builtin_op!(
    GETITEM,
    "getitem",
    "[getitem] The item of x at index (a list or string position, negative from the end, or a map key).",
    ["x", "index"]
);
builtin_op!(
    SLICE,
    "slice",
    "[slice] The part of the list or string x from start up to but not including end (null for an open end, negative from the end).",
    ["x", "start", "end"]
);
builtin_op!(
    CONTAINS,
    "contains",
    "[contains] Whether item is an element of the list x, a key of the map x, or a substring of the string x.",
    ["x", "item"]
);
builtin_op!(APPEND, "append", "[append] The list x with item added at the end.", ["x", "item"]);
builtin_op!(EXTEND, "extend", "[extend] The list x followed by the items of the list y.", ["x", "y"]);
builtin_op!(KEYS, "keys", "[keys] The keys of the map x, in order.", ["x"]);
builtin_op!(VALUES, "values", "[values] The values of the map x, in key order.", ["x"]);
builtin_op!(ITEMS, "items", "[items] The [key, value] pairs of the map x, in key order.", ["x"]);
builtin_op!(SET_ITEM, "set_item", "[set_item] The map x with key set to value.", ["x", "key", "value"]);

/// A traced list built from nodes; its parents are named `item0`, `item1`, ...
///
/// ```
/// use trace_core::{Node, Value, ops};
///
/// let a = Node::input("a", 1);
/// let b = Node::input("b", "two");
///
/// let items = ops::list(&[&a, &b]);
///
/// assert_eq!(items.value(), Value::List(vec![1.into(), "two".into()]));
/// ```
pub fn list(items: &[&Node]) -> Node {
    let names: Vec<String> = (0..items.len()).map(|i| format!("item{i}")).collect();
    let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let spec = OpSpec::new("list", "[list] A list of the items in order.", &name_refs);
    let parents = items.iter().map(|&node| node.clone()).collect();
    spec.apply(parents, |values| Ok(Value::List(values.to_vec())))
}

/// A traced map built from named nodes; its parents are named after the keys.
pub fn dict(entries: &[(&str, &Node)]) -> Node {
    let names: Vec<&str> = entries.iter().map(|(name, _)| *name).collect();
    let spec = OpSpec::new("dict", "[dict] A map from each argument name to its value.", &names);
    let parents = entries.iter().map(|(_, node)| (*node).clone()).collect();
    spec.apply(parents, |values| {
        Ok(Value::Map(names.iter().map(|name| name.to_string()).zip(values.iter().cloned()).collect()))
    })
}

impl Node {
    /// Traced length of a list, map or string (in characters).
    pub fn len(&self) -> Node {
        LEN.apply(vec![self.clone()], |values| match &values[0] {
            Value::List(items) => Ok(Value::from(items.len())),
            Value::Map(map) => Ok(Value::from(map.len())),
            Value::Text(s) | Value::Code(s) => Ok(Value::from(s.chars().count())),
            other => Err(format!("object of type '{}' has no len()", other.type_tag())),
        })
    }

    /// Traced `x[index]`: a list item or string character by position (negative counts from
    /// the end), or a map value by key.
    ///
    /// `std::ops::Index` cannot be used for this, because it must return a reference into
    /// the container, not a new node.
    pub fn at(&self, index: impl IntoNode) -> Node {
        GETITEM.apply(vec![self.clone(), index.into_node()], |values| match (&values[0], &values[1]) {
            (Value::List(items), Value::Int(i)) => {
                let position = resolve_index(*i, items.len()).ok_or_else(|| out_of_range("list", *i, items.len()))?;
                Ok(items[position].clone())
            }
            (Value::Text(s), Value::Int(i)) => {
                let count = s.chars().count();
                let position = resolve_index(*i, count).ok_or_else(|| out_of_range("string", *i, count))?;
                Ok(Value::Text(s.chars().nth(position).map(String::from).unwrap_or_default()))
            }
            (Value::Map(map), Value::Text(key)) => map.get(key).cloned().ok_or_else(|| {
                let known: Vec<&str> = map.keys().map(String::as_str).collect();
                format!("KeyError: '{key}' (keys: {})", known.join(", "))
            }),
            (container, index) => {
                Err(format!("'{}' cannot be indexed by '{}'", container.type_tag(), index.type_tag()))
            }
        })
    }

    /// Traced `x[start:end]` for lists and strings; `None` leaves that end open, negative
    /// positions count from the end, and out-of-range positions are clamped, as in Python.
    pub fn slice(&self, start: Option<i64>, end: Option<i64>) -> Node {
        let bound = |position: Option<i64>| Node::constant(position.map_or(Value::Null, Value::Int));
        SLICE.apply(vec![self.clone(), bound(start), bound(end)], |values| {
            let range = |len: usize| {
                let resolve = |v: &Value, default: usize| match v {
                    Value::Int(i) => clamp_index(*i, len),
                    _ => default,
                };
                let start = resolve(&values[1], 0);
                let end = resolve(&values[2], len);
                start..end.max(start)
            };
            match &values[0] {
                Value::List(items) => Ok(Value::List(items[range(items.len())].to_vec())),
                Value::Text(s) => {
                    let chars: Vec<char> = s.chars().collect();
                    Ok(Value::Text(chars[range(chars.len())].iter().collect()))
                }
                other => Err(format!("'{}' cannot be sliced", other.type_tag())),
            }
        })
    }

    /// Traced membership: an element of a list, a key of a map, or a substring of a string.
    pub fn contains(&self, item: impl IntoNode) -> Node {
        CONTAINS.apply(vec![self.clone(), item.into_node()], |values| match (&values[0], &values[1]) {
            (Value::List(items), item) => Ok(Value::Bool(items.contains(item))),
            (Value::Map(map), Value::Text(key)) => Ok(Value::Bool(map.contains_key(key))),
            (Value::Text(s), Value::Text(part)) => Ok(Value::Bool(s.contains(part.as_str()))),
            (container, item) => {
                Err(format!("'in <{}>' requires a matching operand, not '{}'", container.type_tag(), item.type_tag()))
            }
        })
    }

    /// Traced append: a new list with `item` at the end.
    pub fn append(&self, item: impl IntoNode) -> Node {
        APPEND.apply(vec![self.clone(), item.into_node()], |values| match &values[0] {
            Value::List(items) => {
                let mut items = items.clone();
                items.push(values[1].clone());
                Ok(Value::List(items))
            }
            other => Err(format!("append expects a list, not '{}'", other.type_tag())),
        })
    }

    /// Traced extend: a new list with the items of `other` after those of this list.
    pub fn extend(&self, other: impl IntoNode) -> Node {
        EXTEND.apply(vec![self.clone(), other.into_node()], |values| match (&values[0], &values[1]) {
            (Value::List(a), Value::List(b)) => Ok(Value::List(a.iter().chain(b).cloned().collect())),
            (a, b) => Err(format!("extend expects two lists, not '{}' and '{}'", a.type_tag(), b.type_tag())),
        })
    }

    /// Traced list of the keys of a map.
    pub fn keys(&self) -> Node {
        KEYS.apply(vec![self.clone()], |values| {
            map_of(&values[0], "keys").map(|map| Value::List(map.keys().map(|k| Value::from(k.as_str())).collect()))
        })
    }

    /// Traced list of the values of a map.
    pub fn values(&self) -> Node {
        VALUES.apply(vec![self.clone()], |values| {
            map_of(&values[0], "values").map(|map| Value::List(map.values().cloned().collect()))
        })
    }

    /// Traced list of `[key, value]` pairs of a map.
    pub fn items(&self) -> Node {
        ITEMS.apply(vec![self.clone()], |values| {
            map_of(&values[0], "items").map(|map| {
                Value::List(map.iter().map(|(k, v)| Value::List(vec![Value::from(k.as_str()), v.clone()])).collect())
            })
        })
    }

    /// Traced `x[key] = value` on a map, returning the new map.
    pub fn set_item(&self, key: impl IntoNode, value: impl IntoNode) -> Node {
        SET_ITEM.apply(vec![self.clone(), key.into_node(), value.into_node()], |values| {
            let mut map = map_of(&values[0], "set_item")?.clone();
            let Value::Text(key) = &values[1] else {
                return Err(format!("map keys must be strings, not '{}'", values[1].type_tag()));
            };
            map.insert(key.clone(), values[2].clone());
            Ok(Value::Map(map))
        })
    }
}

fn map_of<'a>(value: &'a Value, op: &str) -> Result<&'a std::collections::BTreeMap<String, Value>, String> {
    match value {
        Value::Map(map) => Ok(map),
        other => Err(format!("{op} expects a map, not '{}'", other.type_tag())),
    }
}

/// The position of index `i` in a sequence of `len` items, negative counting from the end.
fn resolve_index(i: i64, len: usize) -> Option<usize> {
    let len = i64::try_from(len).ok()?;
    let position = if i < 0 { i + len } else { i };
    (0..len).contains(&position).then(|| usize::try_from(position).ok()).flatten()
}

/// A slice bound clamped into `0..=len`, negative counting from the end.
fn clamp_index(i: i64, len: usize) -> usize {
    let len_i64 = i64::try_from(len).unwrap_or(i64::MAX);
    let position = if i < 0 { i.saturating_add(len_i64) } else { i };
    usize::try_from(position.clamp(0, len_i64)).unwrap_or(len)
}

fn out_of_range(what: &str, i: i64, len: usize) -> String {
    format!("IndexError: {what} index {i} out of range for length {len}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexing_lists_strings_maps() {
        let items = Node::input("items", Value::from(vec![10, 20, 30]));
        let text = Node::input("text", "héllo");
        let map = dict(&[("a", &Node::input("v", 1))]);

        assert_eq!(items.at(-1).value(), Value::from(30));
        assert_eq!(text.at(1).value(), Value::from("é"));
        assert_eq!(map.at("a").value(), Value::from(1));
        assert_eq!(items.at(3).error(), Some("IndexError: list index 3 out of range for length 3"));
        assert_eq!(map.at("b").error(), Some("KeyError: 'b' (keys: a)"));
    }

    #[test]
    fn slicing_clamps_like_python() {
        let items = Node::input("items", Value::from(vec![1, 2, 3, 4]));

        assert_eq!(items.slice(Some(1), Some(3)).value(), Value::from(vec![2, 3]));
        assert_eq!(items.slice(Some(-2), None).value(), Value::from(vec![3, 4]));
        assert_eq!(items.slice(Some(3), Some(1)).value(), Value::List(vec![]));
        assert_eq!(items.slice(None, Some(99)).value(), Value::from(vec![1, 2, 3, 4]));
        assert_eq!(Node::input("s", "abcd").slice(Some(1), Some(-1)).value(), Value::from("bc"));
        assert_eq!(items.slice(Some(0), Some(1)).parents().len(), 3);
    }

    #[test]
    fn container_updates_return_new_values() {
        let items = Node::input("items", Value::from(vec![1]));
        let map = Node::input("map", Value::Map(Default::default()));

        assert_eq!(items.append(2).value(), Value::from(vec![1, 2]));
        assert_eq!(items.extend(Value::from(vec![5])).value(), Value::from(vec![1, 5]));
        assert_eq!(items.len().value(), Value::from(1));
        assert_eq!(items.contains(1).value(), Value::Bool(true));
        let updated = map.set_item("k", "v");
        assert_eq!(updated.keys().value(), Value::from(vec!["k"]));
        assert_eq!(updated.values().value(), Value::from(vec!["v"]));
        assert_eq!(updated.items().value(), Value::List(vec![Value::from(vec!["k", "v"])]));
        assert_eq!(map.len().value(), Value::from(0));
    }

    #[test]
    fn list_and_dict_name_their_parents() {
        let a = Node::input("a", 1);
        let b = Node::input("b", 2);

        let items = list(&[&a, &b]);
        let map = dict(&[("first", &a), ("second", &b)]);

        assert_eq!(items.inputs().map(|(name, _)| name).collect::<Vec<_>>(), ["item0", "item1"]);
        assert_eq!(map.inputs().map(|(name, _)| name).collect::<Vec<_>>(), ["first", "second"]);
        assert_eq!(map.at("second").value(), Value::from(2));
    }
}
