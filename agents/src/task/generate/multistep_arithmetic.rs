//! Multistep arithmetic: nested integer expressions with `+`, `-` and `*`.

use crate::task::seeded_rng::SeededRng;

/// Returns an expression such as `((-1 + 2 * 3) * (3 - -4)) =` and its value.
pub(super) fn generate(rng: &mut SeededRng) -> (String, Vec<String>) {
    let left = inner_group(rng);
    let right = inner_group(rng);
    let operator = random_operator(rng);
    let expression = format!("({left} {operator} {right})");
    let value = evaluate(&expression).unwrap_or_default();
    (format!("{expression} ="), vec![value.to_string()])
}

/// Returns a parenthesized group of 2 or 3 single-digit operands, such as `(-1 + 2 * 3)`.
fn inner_group(rng: &mut SeededRng) -> String {
    let operands = 2 + rng.below(2);
    let mut text = format!("({}", rng.range_inclusive(-9, 9));
    for _ in 1..operands {
        text.push_str(&format!(" {} {}", random_operator(rng), rng.range_inclusive(-9, 9)));
    }
    text.push(')');
    text
}

fn random_operator(rng: &mut SeededRng) -> char {
    *rng.pick(&['+', '-', '*']).unwrap_or(&'+')
}

/// Evaluates an integer expression with `+`, `-`, `*`, parentheses and negative literals,
/// with the usual precedence; `None` if malformed or on overflow.
pub(super) fn evaluate(expression: &str) -> Option<i64> {
    let tokens = tokenize(expression)?;
    let mut parser = Parser { tokens: &tokens, position: 0 };
    let value = parser.sum()?;
    (parser.position == tokens.len()).then_some(value)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Number(i64),
    Operator(char),
    Open,
    Close,
}

fn tokenize(expression: &str) -> Option<Vec<Token>> {
    let mut tokens = Vec::new();
    let mut characters = expression.chars().peekable();
    while let Some(character) = characters.next() {
        match character {
            ' ' => {}
            '(' => tokens.push(Token::Open),
            ')' => tokens.push(Token::Close),
            '+' | '*' => tokens.push(Token::Operator(character)),
            '-' => {
                // A minus right before a digit, where no operand precedes it, is a sign.
                let after_operand = matches!(tokens.last(), Some(Token::Number(_) | Token::Close));
                if !after_operand && characters.peek().is_some_and(char::is_ascii_digit) {
                    let digits: String = std::iter::from_fn(|| characters.next_if(char::is_ascii_digit)).collect();
                    tokens.push(Token::Number(-digits.parse::<i64>().ok()?));
                } else {
                    tokens.push(Token::Operator('-'));
                }
            }
            digit if digit.is_ascii_digit() => {
                let rest: String = std::iter::from_fn(|| characters.next_if(char::is_ascii_digit)).collect();
                tokens.push(Token::Number(format!("{digit}{rest}").parse().ok()?));
            }
            _ => return None,
        }
    }
    Some(tokens)
}

struct Parser<'a> {
    tokens: &'a [Token],
    position: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<Token> {
        self.tokens.get(self.position).copied()
    }

    fn sum(&mut self) -> Option<i64> {
        let mut value = self.product()?;
        while let Some(Token::Operator(operator @ ('+' | '-'))) = self.peek() {
            self.position += 1;
            let right = self.product()?;
            value = if operator == '+' { value.checked_add(right)? } else { value.checked_sub(right)? };
        }
        Some(value)
    }

    fn product(&mut self) -> Option<i64> {
        let mut value = self.atom()?;
        while self.peek() == Some(Token::Operator('*')) {
            self.position += 1;
            value = value.checked_mul(self.atom()?)?;
        }
        Some(value)
    }

    fn atom(&mut self) -> Option<i64> {
        let token = self.peek()?;
        self.position += 1;
        match token {
            Token::Number(value) => Some(value),
            Token::Open => {
                let value = self.sum()?;
                (self.peek() == Some(Token::Close)).then(|| self.position += 1)?;
                Some(value)
            }
            Token::Operator(_) | Token::Close => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evaluate_cases() {
        let cases = [
            ("((-1 + 2) * (3 - -4)) =", None),
            ("((-1 + 2) * (3 - -4))", Some(7)),
            ("(-1 + 2 * 3)", Some(5)),
            ("((2 - 3 - 4) * (-9 * -1))", Some(-45)),
            ("((0 * 5 + 1) - (7 - 8 * 2))", Some(10)),
            ("(1 +)", None),
            ("(1 + 2", None),
        ];
        for (expression, expected) in cases {
            assert_eq!(evaluate(expression), expected, "{expression}");
        }
    }

    #[test]
    fn generated_targets_match_evaluation() {
        let mut rng = SeededRng::new(12);
        for _ in 0..200 {
            let (question, targets) = generate(&mut rng);
            let expression = question.strip_suffix(" =").expect("ends with ' ='");

            assert_eq!(targets, vec![evaluate(expression).expect("well-formed").to_string()], "{question}");
        }
    }
}
