//! Word sorting: sort a list of lower-case English words alphabetically.

use crate::task::seeded_rng::SeededRng;

const WORDS: [&str; 80] = [
    "anchor", "apple", "arrow", "badge", "basket", "beacon", "blanket", "bridge", "butter", "candle", "canyon",
    "carpet", "castle", "cedar", "chimney", "cobalt", "copper", "cotton", "crystal", "dagger", "desert", "dolphin",
    "dragon", "eagle", "echo", "ember", "engine", "falcon", "feather", "fossil", "garden", "garlic", "glacier",
    "granite", "harbor", "hazel", "helmet", "island", "ivory", "jacket", "jungle", "kettle", "kitten", "ladder",
    "lantern", "lemon", "magnet", "marble", "meadow", "mirror", "needle", "nectar", "oyster", "paddle", "pepper",
    "pillow", "planet", "pocket", "quartz", "quiver", "rabbit", "ribbon", "saddle", "salmon", "shadow", "silver",
    "spider", "summit", "tablet", "thunder", "timber", "tunnel", "velvet", "violet", "walnut", "window", "winter",
    "yellow", "zephyr", "zipper",
];

/// Returns the instruction with 3 to 12 distinct words, and the sorted words.
pub(super) fn generate(rng: &mut SeededRng) -> (String, Vec<String>) {
    let count = 3 + rng.below(10);
    let mut words: Vec<&str> = WORDS.to_vec();
    rng.shuffle(&mut words);
    words.truncate(count);

    let question = format!("Sort the following words alphabetically: List: {}", words.join(" "));
    words.sort_unstable();
    (question, vec![words.join(" ")])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_is_sorted_input() {
        let mut rng = SeededRng::new(4);
        for _ in 0..100 {
            let (question, targets) = generate(&mut rng);
            let (_, listed) = question.split_once("List: ").expect("list part");
            let mut expected: Vec<&str> = listed.split(' ').collect();
            expected.sort_unstable();

            assert_eq!(targets, vec![expected.join(" ")]);
            assert!((3..=12).contains(&expected.len()), "{question}");
        }
    }

    #[test]
    fn word_list_is_lowercase_and_distinct() {
        let mut words = WORDS.to_vec();
        words.sort_unstable();
        words.dedup();

        assert_eq!(words.len(), WORDS.len());
        assert!(WORDS.iter().all(|word| word.chars().all(|character| character.is_ascii_lowercase())));
    }
}
