//! The memory of past (variables, feedback) pairs that OptoPrime shows in the next prompts.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// The variables of one step, as shown in its prompt, and the feedback they received.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryEntry {
    /// The variables as `(type) key=value` lines.
    pub variables: Vec<String>,
    /// The feedback text.
    pub feedback: String,
}

/// A first-in, first-out buffer of at most `capacity` entries.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct Memory {
    capacity: usize,
    entries: VecDeque<MemoryEntry>,
}

impl Memory {
    pub(crate) fn new(capacity: usize) -> Memory {
        Memory { capacity, entries: VecDeque::with_capacity(capacity) }
    }

    /// Adds an entry, dropping the oldest when full. With capacity zero nothing is kept.
    pub(crate) fn push(&mut self, entry: MemoryEntry) {
        if self.capacity == 0 {
            return;
        }
        while self.entries.len() >= self.capacity {
            self.entries.pop_front();
        }
        self.entries.push_back(entry);
    }

    pub(crate) fn entries(&self) -> impl ExactSizeIterator<Item = &MemoryEntry> {
        self.entries.iter()
    }

    /// Changes the capacity, dropping the oldest entries that no longer fit.
    pub(crate) fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity;
        while self.entries.len() > capacity {
            self.entries.pop_front();
        }
    }

    pub(crate) fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "memory": self.entries })
    }

    /// Replaces the entries by those in `state`, as written by [`Memory::to_json`].
    pub(crate) fn restore(&mut self, state: &serde_json::Value) -> Result<(), String> {
        if state.is_null() {
            self.entries.clear();
            return Ok(());
        }
        let entries = state.get("memory").ok_or("the state has no `memory` member")?;
        let entries: Vec<MemoryEntry> =
            serde_json::from_value(entries.clone()).map_err(|error| format!("invalid `memory` member: {error}"))?;
        self.entries.clear();
        entries.into_iter().for_each(|entry| self.push(entry));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(feedback: &str) -> MemoryEntry {
        MemoryEntry { variables: vec!["(int) x0=1".to_string()], feedback: feedback.to_string() }
    }

    #[test]
    fn keeps_last_entries() {
        let mut memory = Memory::new(2);

        for feedback in ["a", "b", "c"] {
            memory.push(entry(feedback));
        }

        let kept: Vec<&str> = memory.entries().map(|entry| entry.feedback.as_str()).collect();
        assert_eq!(kept, ["b", "c"]);
    }

    #[test]
    fn zero_capacity_keeps_nothing() {
        let mut memory = Memory::new(0);

        memory.push(entry("a"));

        assert_eq!(memory.entries().len(), 0);
    }

    #[test]
    fn state_round_trips() {
        let mut memory = Memory::new(3);
        memory.push(entry("a"));
        let mut restored = Memory::new(3);

        restored.restore(&memory.to_json()).unwrap();

        assert_eq!(restored.entries().cloned().collect::<Vec<_>>(), [entry("a")]);
        assert!(restored.restore(&serde_json::json!({"memory": 3})).is_err());
    }
}
