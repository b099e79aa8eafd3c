//! Helpers that pull the final answer out of a model's reply.
//!
//! Models wrap answers in many ways: a JSON object with an `answer` field, LaTeX
//! `\boxed{...}`, a GSM8K-style `#### N` line, a closing "The answer is ..." sentence, or
//! a bare last line. [`extract_answer`] tries these in that order.

/// Longest prefix of the text where JSON objects are searched, in `{` characters.
const MAX_JSON_CANDIDATES: usize = 64;

/// Extracts the final answer from a model's reply.
///
/// Tries, in order: the `answer` field of a JSON object (also inside a code fence or after
/// other text), the last `\boxed{...}`, the text after the last `####`, the text after the
/// last `answer:` or `answer is` (any case), and finally the last non-empty line. Returns
/// an empty string for an empty reply.
///
/// # Example
///
/// ```
/// use agents::task::answer::extract_answer;
///
/// assert_eq!(extract_answer("{\"reasoning\": \"2 + 3\", \"answer\": 5}"), "5");
/// assert_eq!(extract_answer("3 apples and 2 pears.\nThe answer is 5."), "5");
/// assert_eq!(extract_answer("So the total is \\boxed{18}."), "18");
/// ```
pub fn extract_answer(reply: &str) -> String {
    if let Some(answer) = extract_json_answer(reply) {
        return answer;
    }
    if let Some(answer) = extract_boxed(reply) {
        return clean(&answer);
    }
    if let Some((_, rest)) = reply.rsplit_once("####") {
        let line = rest.lines().find(|line| !line.trim().is_empty()).unwrap_or_default();
        return clean(line);
    }
    if let Some(answer) = extract_after_answer_marker(reply) {
        return answer;
    }
    reply.lines().rev().map(str::trim).find(|line| !line.is_empty()).map(clean).unwrap_or_default()
}

/// Returns the `answer` field of the first JSON object in `reply` that has one.
///
/// A string is returned as is, a number or boolean as its JSON text, and a list of
/// strings or numbers joined with single spaces (a word-sorting answer given as a list).
pub fn extract_json_answer(reply: &str) -> Option<String> {
    let starts = reply.char_indices().filter(|&(_, character)| character == '{').map(|(index, _)| index);
    for start in starts.take(MAX_JSON_CANDIDATES) {
        let tail = reply.get(start..)?;
        let mut stream = serde_json::Deserializer::from_str(tail).into_iter::<serde_json::Value>();
        let Some(Ok(serde_json::Value::Object(object))) = stream.next() else {
            continue;
        };
        if let Some(answer) = object.get("answer").and_then(json_answer_text) {
            return Some(answer);
        }
    }
    None
}

fn json_answer_text(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(text) => Some(text.trim().to_owned()),
        serde_json::Value::Number(number) => Some(number.to_string()),
        serde_json::Value::Bool(flag) => Some(flag.to_string()),
        serde_json::Value::Array(items) => {
            let words: Option<Vec<String>> = items
                .iter()
                .map(|item| match item {
                    serde_json::Value::String(text) => Some(text.trim().to_owned()),
                    serde_json::Value::Number(number) => Some(number.to_string()),
                    _ => None,
                })
                .collect();
            words.map(|words| words.join(" "))
        }
        serde_json::Value::Null | serde_json::Value::Object(_) => None,
    }
}

/// Returns the content of the last `\boxed{...}`, with nested braces kept.
fn extract_boxed(reply: &str) -> Option<String> {
    let (_, rest) = reply.rsplit_once("\\boxed{")?;
    let mut depth = 1_usize;
    for (index, character) in rest.char_indices() {
        match character {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return rest.get(..index).map(str::to_owned);
                }
            }
            _ => {}
        }
    }
    None
}

/// Returns the text after the last `answer:` or `answer is`, up to the end of its line.
fn extract_after_answer_marker(reply: &str) -> Option<String> {
    let lower = reply.to_lowercase();
    // Lower-casing can change byte lengths outside ASCII, so positions are only used when
    // the lengths still match.
    if lower.len() != reply.len() {
        return None;
    }
    let position = ["answer:", "answer is"]
        .iter()
        .filter_map(|marker| lower.rfind(marker).map(|index| index + marker.len()))
        .max()?;
    let line = reply.get(position..)?.lines().next().unwrap_or_default();
    let answer = clean(line);
    (!answer.is_empty()).then_some(answer)
}

/// Trims whitespace, markdown emphasis, a leading colon and a final period.
fn clean(text: &str) -> String {
    let trim = |text: &str| -> String {
        text.trim_matches(|character: char| character.is_whitespace() || matches!(character, '*' | ':' | '`'))
            .to_owned()
    };
    let trimmed = trim(text);
    match trimmed.strip_suffix('.') {
        Some(without_period) => trim(without_period),
        None => trimmed,
    }
}

/// Returns the last number in `text`: digits first (`-3`, `1,234.5`), else an English
/// number word (`ten`, `twenty-one`).
///
/// # Example
///
/// ```
/// use agents::task::answer::extract_number;
///
/// assert_eq!(extract_number("She pays $1,250.50 in total."), Some(1250.5));
/// assert_eq!(extract_number("I count seven animals"), Some(7.0));
/// assert_eq!(extract_number("no idea"), None);
/// ```
pub fn extract_number(text: &str) -> Option<f64> {
    last_digit_number(text).or_else(|| {
        text.split(|character: char| !(character.is_ascii_alphabetic() || character == '-'))
            .rev()
            .find_map(parse_number_word)
            .map(f64::from)
    })
}

/// Returns the last number written with digits, with thousands commas removed.
fn last_digit_number(text: &str) -> Option<f64> {
    let characters: Vec<char> = text.chars().collect();
    let mut last = None;
    let mut index = 0;
    while index < characters.len() {
        let starts_number = characters.get(index).is_some_and(char::is_ascii_digit);
        if !starts_number {
            index += 1;
            continue;
        }

        let negative = index > 0
            && characters.get(index - 1) == Some(&'-')
            && (index < 2 || !characters.get(index - 2).is_some_and(|character| character.is_alphanumeric()));
        let mut digits = String::from(if negative { "-" } else { "" });
        let mut seen_point = false;
        while let Some(&character) = characters.get(index) {
            let next_is_digit = characters.get(index + 1).is_some_and(char::is_ascii_digit);
            if character.is_ascii_digit() {
                digits.push(character);
            } else if character == ',' && next_is_digit {
                // A thousands separator: skip it.
            } else if character == '.' && next_is_digit && !seen_point {
                seen_point = true;
                digits.push('.');
            } else {
                break;
            }
            index += 1;
        }
        last = digits.parse::<f64>().ok().or(last);
    }
    last
}

/// Parses a whole string as a number: digits with optional sign, `$`, `%`, thousands
/// commas and a final period, or an English number word from zero to ninety-nine.
pub fn parse_number(text: &str) -> Option<f64> {
    let trimmed = text.trim().trim_end_matches('.').trim();
    let without_units = trimmed.trim_start_matches('$').trim_end_matches('%').replace(',', "");
    if let Ok(number) = without_units.trim().parse::<f64>() {
        return number.is_finite().then_some(number);
    }
    parse_number_word(&trimmed.to_lowercase()).map(f64::from)
}

/// English words for 0 to 19.
const UNITS: [&str; 20] = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
];

/// English words for the tens from 20 to 90.
const TENS: [&str; 8] = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"];

/// Returns the English word for `value` from 0 to 20, such as `seven`.
pub(crate) fn small_number_word(value: usize) -> Option<&'static str> {
    match value {
        20 => Some(TENS[0]),
        _ => UNITS.get(value).copied(),
    }
}

/// Parses `zero` to `ninety-nine`, with or without a hyphen between tens and units.
pub(crate) fn parse_number_word(word: &str) -> Option<u32> {
    let word = word.trim().to_lowercase();
    let position = |list: &[&str], item: &str| {
        list.iter().position(|candidate| *candidate == item).and_then(|index| u32::try_from(index).ok())
    };
    if let Some(value) = position(&UNITS, &word) {
        return Some(value);
    }
    let (tens, units) = word.split_once(['-', ' ']).unwrap_or((&word, ""));
    let tens_value = (position(&TENS, tens)? + 2) * 10;
    if units.is_empty() {
        return Some(tens_value);
    }
    let units_value = position(&UNITS, units).filter(|value| (1..10).contains(value))?;
    Some(tens_value + units_value)
}

/// Returns the 0-based option index named by `answer`: `B`, `(B)`, `B)`, `B.` or
/// `(B) text`, case-insensitive, when it is below `count`.
pub fn choice_index(answer: &str, count: usize) -> Option<usize> {
    let trimmed = answer.trim();
    let letter = if let Some(rest) = trimmed.strip_prefix('(') {
        let (inside, _) = rest.split_once(')')?;
        single_letter(inside)?
    } else {
        let head = trimmed.trim_end_matches([')', '.', ':']);
        single_letter(head)?
    };
    let index = usize::from(letter.to_ascii_lowercase() as u8 - b'a');
    (index < count).then_some(index)
}

fn single_letter(text: &str) -> Option<char> {
    let mut characters = text.trim().chars();
    let letter = characters.next()?;
    (characters.next().is_none() && letter.is_ascii_alphabetic()).then_some(letter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extract_answer_cases() {
        let cases = [
            ("{\"answer\": \"gelatine stick\"}", "gelatine stick"),
            ("```json\n{\"reasoning\": \"count\", \"answer\": 7}\n```", "7"),
            ("Sure. {\"answer\": [\"apple\", \"pear\"]} done", "apple pear"),
            ("{\"answer\": true}", "true"),
            ("first \\boxed{1} then \\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),
            ("work\n#### 1,200\n", "1,200"),
            ("Reasoning here.\nAnswer: 12", "12"),
            ("So the answer is **(B)**.", "(B)"),
            ("I think\n\n  42  \n\n", "42"),
            ("", ""),
        ];
        for (reply, expected) in cases {
            assert_eq!(extract_answer(reply), expected, "reply: {reply:?}");
        }
    }

    #[test]
    fn json_answer_skips_objects_without_answer() {
        let reply = "{\"reasoning\": \"x\"} then {\"answer\": \"y\"}";

        assert_eq!(extract_json_answer(reply), Some("y".to_owned()));
    }

    #[test]
    fn json_answer_none_for_broken_json() {
        assert_eq!(extract_json_answer("{\"answer\": "), None);
        assert_eq!(extract_json_answer("{\"answer\": null}"), None);
    }

    #[test]
    fn unbalanced_boxed_is_ignored() {
        assert_eq!(extract_answer("\\boxed{12"), "\\boxed{12");
    }

    #[test]
    fn extract_number_cases() {
        let cases = [
            ("The total is 18 dollars.", Some(18.0)),
            ("from -3 to -7", Some(-7.0)),
            ("x-3", Some(3.0)),
            ("1,234,567", Some(1_234_567.0)),
            ("3.5 then 2.", Some(2.0)),
            ("version 1.2.3", Some(3.0)),
            ("twenty-one apples", Some(21.0)),
            ("forty", Some(40.0)),
            ("none", None),
        ];
        for (text, expected) in cases {
            assert_eq!(extract_number(text), expected, "text: {text:?}");
        }
    }

    #[test]
    fn parse_number_cases() {
        let cases = [
            ("42", Some(42.0)),
            (" $1,000. ", Some(1000.0)),
            ("50%", Some(50.0)),
            ("-0.5", Some(-0.5)),
            ("Ten", Some(10.0)),
            ("ninety-nine", Some(99.0)),
            ("twenty zero", None),
            ("inf", None),
            ("12 apples", None),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_number(text), expected, "text: {text:?}");
        }
    }

    #[test]
    fn choice_index_cases() {
        let cases = [
            ("B", Some(1)),
            ("(c)", Some(2)),
            ("a)", Some(0)),
            ("D.", Some(3)),
            ("(B) 05/01/2021", Some(1)),
            ("F", None),
            ("AB", None),
            ("05/01/2021", None),
            ("", None),
        ];
        for (answer, expected) in cases {
            assert_eq!(choice_index(answer, 4), expected, "answer: {answer:?}");
        }
    }
}
