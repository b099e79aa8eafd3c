//! Metrics that compare an extracted answer with an example's targets.

use serde::{Deserialize, Serialize};

use super::Example;
use super::answer::{choice_index, extract_number, parse_number};

/// Relative tolerance of [`Metric::NumericMatch`].
const NUMERIC_TOLERANCE: f64 = 1e-6;

/// Rule that scores an extracted answer against an example's targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Metric {
    /// Equal to a target after [`normalize_answer`].
    ExactMatch,
    /// The last number in the answer equals the target's number, within a relative
    /// tolerance of 1e-6.
    NumericMatch,
    /// The answer is a correct option, given as its text or as its letter (`B`, `(B)`).
    MultipleChoice,
}

impl Metric {
    /// Returns 1.0 when `answer` is correct for `example`, else 0.0.
    pub fn score(self, answer: &str, example: &Example) -> f64 {
        if self.is_correct(answer, example) { 1.0 } else { 0.0 }
    }

    /// Checks `answer`, already extracted from the reply, against the example's targets.
    pub fn is_correct(self, answer: &str, example: &Example) -> bool {
        match self {
            Self::ExactMatch => matches_target(answer, example),
            Self::NumericMatch => {
                let Some(value) = extract_number(answer) else {
                    return false;
                };
                example.targets.iter().filter_map(|target| parse_number(target)).any(|target| {
                    let scale = target.abs().max(1.0);
                    (value - target).abs() <= NUMERIC_TOLERANCE * scale
                })
            }
            Self::MultipleChoice => {
                let chosen = choice_index(answer, example.choices.len()).and_then(|index| example.choices.get(index));
                match chosen {
                    Some(choice) => matches_target(choice, example),
                    None => matches_target(answer, example),
                }
            }
        }
    }
}

fn matches_target(answer: &str, example: &Example) -> bool {
    let answer = normalize_answer(answer);
    example.targets.iter().any(|target| normalize_answer(target) == answer)
}

/// Normalizes an answer for exact comparison.
///
/// Trims whitespace, quotes, backticks and markdown asterisks, drops one final period,
/// lower-cases, collapses runs of whitespace to one space, and turns a lone option
/// letter in parentheses, `(B)`, into `b`.
///
/// # Example
///
/// ```
/// use agents::task::normalize_answer;
///
/// assert_eq!(normalize_answer("  **Gelatine   Stick.** "), "gelatine stick");
/// assert_eq!(normalize_answer("(B)"), "b");
/// ```
pub fn normalize_answer(answer: &str) -> String {
    let strip = |text: &str| {
        text.trim_matches(|character: char| character.is_whitespace() || matches!(character, '"' | '\'' | '`' | '*'))
            .to_owned()
    };
    let mut text = strip(answer);
    if let Some(without_period) = text.strip_suffix('.') {
        text = strip(without_period);
    }
    let text = text.to_lowercase().split_whitespace().collect::<Vec<_>>().join(" ");

    let mut characters = text.chars();
    if let (Some('('), Some(letter), Some(')'), None) =
        (characters.next(), characters.next(), characters.next(), characters.next())
        && letter.is_alphanumeric()
    {
        return letter.to_string();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(targets: &[&str]) -> Example {
        Example::new("t/0", "question", targets.iter().map(|target| (*target).to_owned()).collect())
    }

    #[test]
    fn exact_match_normalizes() {
        let example = example(&["three", "3"]);

        assert!(Metric::ExactMatch.is_correct("3", &example));
        assert!(Metric::ExactMatch.is_correct(" Three. ", &example));
        assert!(!Metric::ExactMatch.is_correct("3 objects", &example));
        assert!(!Metric::ExactMatch.is_correct("", &example));
    }

    #[test]
    fn exact_match_keeps_word_order() {
        let example = example(&["apple banana cherry"]);

        assert!(Metric::ExactMatch.is_correct("apple  banana\ncherry", &example));
        assert!(!Metric::ExactMatch.is_correct("banana apple cherry", &example));
    }

    #[test]
    fn numeric_match_compares_values() {
        let example = example(&["1,200"]);

        assert!(Metric::NumericMatch.is_correct("1200", &example));
        assert!(Metric::NumericMatch.is_correct("It costs $1,200.00", &example));
        assert!(!Metric::NumericMatch.is_correct("1201", &example));
        assert!(!Metric::NumericMatch.is_correct("twelve hundred", &example));
    }

    #[test]
    fn numeric_match_reads_number_words() {
        let example = example(&["ten", "10"]);

        assert!(Metric::NumericMatch.is_correct("ten", &example));
        assert!(Metric::NumericMatch.is_correct("I have 10 animals", &example));
    }

    #[test]
    fn multiple_choice_accepts_letter_and_text() {
        let mut example = example(&["05/01/2021"]);
        example.choices = vec!["04/29/2021".to_owned(), "05/01/2021".to_owned(), "05/09/2021".to_owned()];

        assert!(Metric::MultipleChoice.is_correct("(B)", &example));
        assert!(Metric::MultipleChoice.is_correct("b", &example));
        assert!(Metric::MultipleChoice.is_correct("05/01/2021", &example));
        assert!(!Metric::MultipleChoice.is_correct("(A)", &example));
        assert!(!Metric::MultipleChoice.is_correct("(D)", &example));
    }

    #[test]
    fn score_is_one_or_zero() {
        let example = example(&["yes"]);

        assert!((Metric::ExactMatch.score("Yes", &example) - 1.0).abs() < f64::EPSILON);
        assert!(Metric::ExactMatch.score("no", &example).abs() < f64::EPSILON);
    }

    #[test]
    fn normalize_cases() {
        let cases = [
            ("`True`", "true"),
            ("'a b'", "a b"),
            ("(A)", "a"),
            ("(AB)", "(ab)"),
            ("end.", "end"),
            ("...", ".."),
            ("", ""),
        ];
        for (answer, expected) in cases {
            assert_eq!(normalize_answer(answer), expected, "answer: {answer:?}");
        }
    }
}
