//! Boolean expressions: evaluate `True`, `False`, `not`, `and`, `or` and parentheses.
//!
//! Precedence is Python's: `not` binds tighter than `and`, which binds tighter than `or`.

use crate::task::seeded_rng::SeededRng;

/// Maximum nesting depth of a generated expression.
const MAX_DEPTH: usize = 3;

/// Returns `<expression> is` and the answer, `True` or `False`.
pub(super) fn generate(rng: &mut SeededRng) -> (String, Vec<String>) {
    loop {
        let expression = random_expression(rng, MAX_DEPTH);
        // Bare literals make trivial questions, so at least one operator is required.
        if !expression.contains(' ') {
            continue;
        }
        if let Some(value) = evaluate(&expression) {
            let answer = if value { "True" } else { "False" };
            return (format!("{expression} is"), vec![answer.to_owned()]);
        }
    }
}

fn random_expression(rng: &mut SeededRng, depth: usize) -> String {
    if depth == 0 || rng.chance(1, 4) {
        return if rng.chance(1, 2) { "True" } else { "False" }.to_owned();
    }
    match rng.below(4) {
        0 => format!("not {}", random_expression(rng, depth - 1)),
        1 => format!("( {} )", random_expression(rng, depth - 1)),
        2 => format!("{} and {}", random_expression(rng, depth - 1), random_expression(rng, depth - 1)),
        _ => format!("{} or {}", random_expression(rng, depth - 1), random_expression(rng, depth - 1)),
    }
}

/// Evaluates a space-separated expression with Python's precedence; `None` if malformed.
pub(super) fn evaluate(expression: &str) -> Option<bool> {
    let tokens: Vec<&str> = expression.split_whitespace().collect();
    let mut parser = Parser { tokens: &tokens, position: 0 };
    let value = parser.or_expression()?;
    (parser.position == tokens.len()).then_some(value)
}

struct Parser<'a> {
    tokens: &'a [&'a str],
    position: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<&'a str> {
        self.tokens.get(self.position).copied()
    }

    fn or_expression(&mut self) -> Option<bool> {
        let mut value = self.and_expression()?;
        while self.peek() == Some("or") {
            self.position += 1;
            let right = self.and_expression()?;
            value = value || right;
        }
        Some(value)
    }

    fn and_expression(&mut self) -> Option<bool> {
        let mut value = self.not_expression()?;
        while self.peek() == Some("and") {
            self.position += 1;
            let right = self.not_expression()?;
            value = value && right;
        }
        Some(value)
    }

    fn not_expression(&mut self) -> Option<bool> {
        if self.peek() == Some("not") {
            self.position += 1;
            return self.not_expression().map(|value| !value);
        }
        self.atom()
    }

    fn atom(&mut self) -> Option<bool> {
        let token = self.peek()?;
        self.position += 1;
        match token {
            "True" => Some(true),
            "False" => Some(false),
            "(" => {
                let value = self.or_expression()?;
                (self.peek() == Some(")")).then(|| self.position += 1)?;
                Some(value)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evaluate_follows_python_precedence() {
        let cases = [
            ("not ( True ) and ( True )", Some(false)),
            ("True or False and False", Some(true)),
            ("not not True", Some(true)),
            ("not True or True", Some(true)),
            ("( True or False ) and False", Some(false)),
            ("False or not False and True", Some(true)),
            ("True and", None),
            ("( True", None),
            ("True True", None),
            ("maybe", None),
        ];
        for (expression, expected) in cases {
            assert_eq!(evaluate(expression), expected, "{expression}");
        }
    }

    #[test]
    fn generated_questions_evaluate_to_target() {
        let mut rng = SeededRng::new(9);
        let mut answers = Vec::new();
        for _ in 0..200 {
            let (question, targets) = generate(&mut rng);
            let expression = question.strip_suffix(" is").expect("ends with ' is'");
            let value = evaluate(expression).expect("well-formed");

            assert_eq!(targets, vec![if value { "True" } else { "False" }.to_owned()], "{question}");
            answers.push(value);
        }
        assert!(answers.contains(&true));
        assert!(answers.contains(&false));
    }
}
