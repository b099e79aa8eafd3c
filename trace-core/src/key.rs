//! Unique node keys such as `prompt0` or `add12`, the names an LLM uses for variables.
//!
//! Each base name has one counter shared by every graph in the process, so keys never collide,
//! also between graphs built concurrently. A base that ends in a digit gets a trailing `_`
//! (`x1` gives `x1_0`), so that `x1` with counter 0 and `x` with counter 10 stay apart.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};

use parking_lot::Mutex;
use rustc_hash::FxHashMap;

static COUNTERS: LazyLock<Mutex<FxHashMap<Arc<str>, Arc<AtomicU64>>>> = LazyLock::new(Default::default);

/// The key source for one base name.
#[derive(Debug, Clone)]
pub(crate) struct KeyCounter {
    base: Arc<str>,
    counter: Arc<AtomicU64>,
}

impl KeyCounter {
    /// The counter for `name` after sanitizing it into an identifier.
    pub(crate) fn new(name: &str) -> KeyCounter {
        let base = sanitize(name);
        let mut counters = COUNTERS.lock();
        if let Some((base, counter)) = counters.get_key_value(base.as_ref()) {
            return KeyCounter { base: base.clone(), counter: counter.clone() };
        }
        let base: Arc<str> = Arc::from(base.as_ref());
        let counter = counters.entry(base.clone()).or_default().clone();
        KeyCounter { base, counter }
    }

    /// The next unused key for this base.
    pub(crate) fn next_key(&self) -> Box<str> {
        let index = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut key = String::with_capacity(self.base.len() + 4);
        key.push_str(&self.base);
        key.push_str(&index.to_string());
        key.into_boxed_str()
    }
}

/// Turns `name` into an identifier that does not end in a digit, borrowing it when it
/// already is one.
fn sanitize(name: &str) -> Cow<'_, str> {
    let is_identifier = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && !name.ends_with(|c: char| c.is_ascii_digit());
    if is_identifier {
        return Cow::Borrowed(name);
    }

    let mut base: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    if base.is_empty() {
        base.push_str("node");
    }
    if base.starts_with(|c: char| c.is_ascii_digit()) {
        base.insert(0, '_');
    }
    if base.ends_with(|c: char| c.is_ascii_digit()) {
        base.push('_');
    }
    Cow::Owned(base)
}

/// The next id in creation order; ids order nodes of equal level deterministically.
pub(crate) fn next_node_id() -> u64 {
    static NEXT_ID: AtomicU64 = AtomicU64::new(0);
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_makes_identifiers() {
        assert_eq!(sanitize("prompt"), "prompt");
        assert_eq!(sanitize("my prompt!"), "my_prompt_");
        assert_eq!(sanitize("x1"), "x1_");
        assert_eq!(sanitize("3d"), "_3d");
        assert_eq!(sanitize(""), "node");
    }

    #[test]
    fn keys_of_one_base_are_distinct() {
        let counter = KeyCounter::new("key_test_base");

        let first = counter.next_key();
        let second = KeyCounter::new("key_test_base").next_key();

        assert_ne!(first, second);
        assert!(first.starts_with("key_test_base"));
    }
}
