//! Seeded train, validation and test splits.

use serde::{Deserialize, Serialize};

use super::seeded_rng::SeededRng;
use crate::{Error, Result};

/// Number of items in each split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitSizes {
    /// Items the optimizer learns from.
    pub train: usize,
    /// Items that decide whether an update is kept.
    pub validation: usize,
    /// Items held out for the final report; `None` takes all that remain.
    pub test: Option<usize>,
}

/// Items cut into train, validation and test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Splits<T> {
    /// Items the optimizer learns from.
    pub train: Vec<T>,
    /// Items that decide whether an update is kept.
    pub validation: Vec<T>,
    /// Items held out for the final report.
    pub test: Vec<T>,
}

/// Shuffles `items` with `seed` and cuts them into train, validation and test, in that order.
///
/// The same items, seed and sizes always give the same splits. `name` only labels errors.
///
/// # Errors
///
/// [`Error::SplitTooLarge`] when the sizes add up to more than `items.len()`.
pub fn split_items<T: Clone>(name: &str, items: &[T], seed: u64, sizes: SplitSizes) -> Result<Splits<T>> {
    let fixed = sizes.train.saturating_add(sizes.validation);
    let test = sizes.test.unwrap_or(items.len().saturating_sub(fixed));
    let requested = fixed.saturating_add(test);
    if requested > items.len() {
        return Err(Error::SplitTooLarge { task: name.to_owned(), requested, available: items.len() });
    }

    let mut order: Vec<usize> = (0..items.len()).collect();
    SeededRng::new(seed).shuffle(&mut order);
    let mut picked = order.into_iter().filter_map(|index| items.get(index).cloned());

    let train = picked.by_ref().take(sizes.train).collect();
    let validation = picked.by_ref().take(sizes.validation).collect();
    let test = picked.take(test).collect();
    Ok(Splits { train, validation, test })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sizes(train: usize, validation: usize, test: Option<usize>) -> SplitSizes {
        SplitSizes { train, validation, test }
    }

    #[test]
    fn splits_are_disjoint_and_sized() {
        let items: Vec<u32> = (0..100).collect();

        let splits = split_items("numbers", &items, 1, sizes(10, 5, Some(20))).expect("100 items fit");

        assert_eq!(splits.train.len(), 10);
        assert_eq!(splits.validation.len(), 5);
        assert_eq!(splits.test.len(), 20);
        let mut all: Vec<u32> = splits.train.iter().chain(&splits.validation).chain(&splits.test).copied().collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 35, "an item appears in two splits");
    }

    #[test]
    fn test_none_takes_the_rest() {
        let items: Vec<u32> = (0..30).collect();

        let splits = split_items("numbers", &items, 1, sizes(10, 5, None)).expect("30 items fit");

        assert_eq!(splits.test.len(), 15);
    }

    #[test]
    fn same_seed_same_splits() {
        let items: Vec<u32> = (0..50).collect();

        let first = split_items("numbers", &items, 42, sizes(5, 5, None)).expect("fits");
        let second = split_items("numbers", &items, 42, sizes(5, 5, None)).expect("fits");
        let other = split_items("numbers", &items, 43, sizes(5, 5, None)).expect("fits");

        assert_eq!(first, second);
        assert_ne!(first.train, other.train);
    }

    #[test]
    fn shuffled_not_source_order() {
        let items: Vec<u32> = (0..50).collect();

        let splits = split_items("numbers", &items, 0, sizes(10, 0, Some(0))).expect("fits");

        assert_ne!(splits.train, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn oversized_split_names_task() {
        let items: Vec<u32> = (0..10).collect();

        let error = split_items("numbers", &items, 0, sizes(8, 2, Some(1))).expect_err("11 > 10");

        assert!(matches!(error, Error::SplitTooLarge { requested: 11, available: 10, .. }), "{error:?}");
        assert!(error.to_string().contains("'numbers'"), "{error}");
    }
}
