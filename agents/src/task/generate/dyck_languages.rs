//! Dyck languages: close the open brackets of a sequence in the right order.

use crate::task::seeded_rng::SeededRng;

const PAIRS: [(char, char); 4] = [('(', ')'), ('[', ']'), ('{', '}'), ('<', '>')];

/// Returns the instruction with a prefix of 4 to 15 brackets, and the closing sequence.
pub(super) fn generate(rng: &mut SeededRng) -> (String, Vec<String>) {
    let length = 4 + rng.below(12);
    let mut sequence: Vec<char> = Vec::with_capacity(length + 1);
    let mut open: Vec<char> = Vec::new();
    while sequence.len() < length || open.is_empty() {
        let must_open = open.is_empty() || sequence.len() + open.len() < length / 2;
        if must_open || rng.chance(1, 2) {
            let (opening, closing) = *rng.pick(&PAIRS).unwrap_or(&PAIRS[0]);
            sequence.push(opening);
            open.push(closing);
        } else if let Some(closing) = open.pop() {
            sequence.push(closing);
        }
    }

    let prefix: Vec<String> = sequence.iter().map(char::to_string).collect();
    let closing: Vec<String> = open.iter().rev().map(char::to_string).collect();
    let question = format!(
        "Complete the rest of the sequence, making sure that the parentheses are closed properly. Input: {}",
        prefix.join(" ")
    );
    (question, vec![closing.join(" ")])
}

/// Checks that `sequence` (space-separated brackets) is balanced and well nested.
#[cfg(test)]
fn is_balanced(sequence: &str) -> bool {
    let mut expected = Vec::new();
    for token in sequence.split_whitespace() {
        let mut characters = token.chars();
        let (Some(character), None) = (characters.next(), characters.next()) else {
            return false;
        };
        if let Some((_, closing)) = PAIRS.iter().find(|(opening, _)| *opening == character) {
            expected.push(*closing);
        } else if expected.pop() != Some(character) {
            return false;
        }
    }
    expected.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_and_target_form_balanced_sequence() {
        let mut rng = SeededRng::new(21);
        for _ in 0..200 {
            let (question, targets) = generate(&mut rng);
            let (_, prefix) = question.split_once("Input: ").expect("input part");
            let target = targets.first().expect("one target");

            assert!(!target.is_empty(), "{question}");
            assert!(!is_balanced(prefix), "prefix already balanced: {prefix}");
            assert!(is_balanced(&format!("{prefix} {target}")), "{prefix} + {target}");
        }
    }

    #[test]
    fn is_balanced_cases() {
        assert!(is_balanced("( [ ] ) < { } >"));
        assert!(!is_balanced("( ]"));
        assert!(!is_balanced("( ("));
        assert!(!is_balanced(")"));
    }
}
