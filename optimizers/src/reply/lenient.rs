//! A forgiving JSON parser for LLM replies.
//!
//! Beyond JSON it accepts single-quoted and triple-quoted strings, raw newlines inside
//! strings, unquoted keys, `=` in place of `:`, missing and trailing commas, `//` and `/* */`
//! comments, and the Python literals `True`, `False` and `None`. Input that ends inside a
//! container, such as a reply cut off by the token limit, yields the members completed
//! before the cut. The cut-off value itself is dropped.

use serde_json::{Map, Number, Value as Json};

/// The result of a lenient parse.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Lenient {
    /// The parsed value.
    pub(crate) value: Json,
    /// Whether the input ended before the value was complete.
    pub(crate) truncated: bool,
    /// Number of bytes consumed from the input.
    pub(crate) consumed: usize,
}

/// Parses one value at the start of `text` (after white space).
pub(crate) fn parse_value(text: &str) -> Option<Lenient> {
    let mut parser = Parser { text, pos: 0, truncated: false };
    let value = parser.value(0).ok()?;
    Some(Lenient { value, truncated: parser.truncated, consumed: parser.pos })
}

/// Container nesting deeper than this is rejected, so that hostile input cannot overflow
/// the stack.
const MAX_DEPTH: usize = 64;

/// The reason a value could not be parsed.
#[derive(Debug)]
enum Fail {
    /// The text is not a value here.
    Invalid,
    /// The input ended inside the value.
    Eof,
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
    truncated: bool,
}

impl<'a> Parser<'a> {
    fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn skip_space(&mut self) {
        loop {
            let rest = self.rest();
            let trimmed = rest.trim_start();
            self.pos += rest.len() - trimmed.len();
            if trimmed.starts_with("//") {
                self.pos += trimmed.find('\n').unwrap_or(trimmed.len());
            } else if let Some(body) = trimmed.strip_prefix("/*") {
                self.pos += body.find("*/").map_or(trimmed.len(), |end| end + 4);
            } else {
                return;
            }
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json, Fail> {
        if depth > MAX_DEPTH {
            return Err(Fail::Invalid);
        }
        self.skip_space();
        match self.peek() {
            None => Err(Fail::Eof),
            Some('{') => self.object(depth),
            Some('[') => self.array(depth),
            Some('"' | '\'') => self.string().map(Json::String),
            Some(c) if c == '-' || c == '+' || c == '.' || c.is_ascii_digit() => self.number(),
            Some(_) => self.literal(),
        }
    }

    fn object(&mut self, depth: usize) -> Result<Json, Fail> {
        self.bump();
        let mut map = Map::new();
        loop {
            self.skip_space();
            match self.peek() {
                None => return self.cut(Json::Object(map)),
                Some('}') => {
                    self.bump();
                    return Ok(Json::Object(map));
                }
                Some(',') => {
                    self.bump();
                    continue;
                }
                Some(_) => {}
            }

            let key = match self.key() {
                Ok(key) => key,
                Err(Fail::Eof) => return self.cut(Json::Object(map)),
                Err(Fail::Invalid) => return Err(Fail::Invalid),
            };
            self.skip_space();
            match self.bump() {
                Some(':' | '=') => {}
                None => return self.cut(Json::Object(map)),
                Some(_) => return Err(Fail::Invalid),
            }

            let before = self.truncated;
            match self.value(depth + 1) {
                Ok(value) => {
                    // A container cut off inside stays only when it is the suggestion map
                    // itself, whose completed members are still usable.
                    let cut_inside = self.truncated && !before;
                    if !cut_inside || key.eq_ignore_ascii_case("suggestion") {
                        map.insert(key, value);
                    }
                    if cut_inside {
                        return Ok(Json::Object(map));
                    }
                }
                Err(Fail::Eof) => return self.cut(Json::Object(map)),
                Err(Fail::Invalid) => return Err(Fail::Invalid),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Json, Fail> {
        self.bump();
        let mut items = Vec::new();
        loop {
            self.skip_space();
            match self.peek() {
                None => return self.cut(Json::Array(items)),
                Some(']') => {
                    self.bump();
                    return Ok(Json::Array(items));
                }
                Some(',') => {
                    self.bump();
                    continue;
                }
                Some(_) => {}
            }
            match self.value(depth + 1) {
                Ok(_) if self.truncated => return Ok(Json::Array(items)),
                Ok(value) => items.push(value),
                Err(Fail::Eof) => return self.cut(Json::Array(items)),
                Err(Fail::Invalid) => return Err(Fail::Invalid),
            }
        }
    }

    /// Marks the parse as cut off and returns the partial container.
    fn cut(&mut self, partial: Json) -> Result<Json, Fail> {
        self.truncated = true;
        Ok(partial)
    }

    fn key(&mut self) -> Result<String, Fail> {
        if matches!(self.peek(), Some('"' | '\'')) {
            return self.string();
        }
        let rest = self.rest();
        let length =
            rest.find(|c: char| !(c.is_alphanumeric() || matches!(c, '_' | '$' | '-' | '.'))).unwrap_or(rest.len());
        if length == 0 {
            return Err(Fail::Invalid);
        }
        if length == rest.len() {
            return Err(Fail::Eof);
        }
        let key = rest[..length].to_string();
        self.pos += length;
        Ok(key)
    }

    fn string(&mut self) -> Result<String, Fail> {
        let quote = self.bump().ok_or(Fail::Eof)?;
        let triple: String = std::iter::repeat_n(quote, 3).collect();
        let is_triple = self.text[self.pos - quote.len_utf8()..].starts_with(&triple);
        if is_triple {
            self.pos += 2 * quote.len_utf8();
        }

        let mut out = String::new();
        loop {
            if is_triple && self.rest().starts_with(&triple) {
                self.pos += triple.len();
                return Ok(out);
            }
            let c = self.bump().ok_or(Fail::Eof)?;
            match c {
                c if c == quote && !is_triple => return Ok(out),
                '\\' => self.escape(&mut out)?,
                c => out.push(c),
            }
        }
    }

    fn escape(&mut self, out: &mut String) -> Result<(), Fail> {
        let c = self.bump().ok_or(Fail::Eof)?;
        match c {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            '"' | '\'' | '\\' | '/' => out.push(c),
            'u' => out.push(self.unicode_escape()?),
            // An unknown escape (`\d` in a regular expression, say) keeps its backslash.
            other => {
                out.push('\\');
                out.push(other);
            }
        }
        Ok(())
    }

    fn unicode_escape(&mut self) -> Result<char, Fail> {
        let high = self.hex4()?;
        if (0xD800..0xDC00).contains(&high) && self.rest().starts_with("\\u") {
            self.pos += 2;
            let low = self.hex4()?;
            let combined = 0x10000 + ((high - 0xD800) << 10) + (low.wrapping_sub(0xDC00) & 0x3FF);
            return Ok(char::from_u32(combined).unwrap_or(char::REPLACEMENT_CHARACTER));
        }
        Ok(char::from_u32(high).unwrap_or(char::REPLACEMENT_CHARACTER))
    }

    fn hex4(&mut self) -> Result<u32, Fail> {
        let rest = self.rest();
        if rest.len() < 4 {
            return Err(Fail::Eof);
        }
        let digits = rest.get(..4).ok_or(Fail::Invalid)?;
        let code = u32::from_str_radix(digits, 16).map_err(|_| Fail::Invalid)?;
        self.pos += 4;
        Ok(code)
    }

    fn number(&mut self) -> Result<Json, Fail> {
        let rest = self.rest();
        let length = rest
            .find(|c: char| !(c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E')))
            .unwrap_or(rest.len());
        let literal = &rest[..length];
        let at_end = length == rest.len();
        self.pos += length;

        let literal = literal.strip_prefix('+').unwrap_or(literal);
        let number = match literal.parse::<i64>() {
            Ok(int) => Number::from(int),
            Err(_) => literal.parse::<f64>().ok().and_then(Number::from_f64).ok_or(Fail::Invalid)?,
        };
        // Digits that run to the end of the input may have been cut off.
        if at_end {
            return Err(Fail::Eof);
        }
        Ok(Json::Number(number))
    }

    fn literal(&mut self) -> Result<Json, Fail> {
        let rest = self.rest();
        let length = rest.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(rest.len());
        let value = match &rest[..length] {
            "true" | "True" => Json::Bool(true),
            "false" | "False" => Json::Bool(false),
            "null" | "None" => Json::Null,
            word if length == rest.len()
                && ["true", "True", "false", "False", "null", "None"].iter().any(|full| full.starts_with(word)) =>
            {
                return Err(Fail::Eof);
            }
            _ => return Err(Fail::Invalid),
        };
        self.pos += length;
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check(text: &str, expected: Json, truncated: bool) {
        let parsed = parse_value(text).unwrap_or_else(|| panic!("no value in {text:?}"));
        assert_eq!(parsed.value, expected, "value of {text:?}");
        assert_eq!(parsed.truncated, truncated, "truncation of {text:?}");
    }

    #[test]
    fn strict_json() {
        check(r#"{"a": [1, 2.5, "x"], "b": null}"#, json!({"a": [1, 2.5, "x"], "b": null}), false);
    }

    #[test]
    fn python_style() {
        check("{'a': True, 'b': None, 'c': False,}", json!({"a": true, "b": null, "c": false}), false);
        check("{'s': 'it\\'s'}", json!({"s": "it's"}), false);
        check(
            r#"{"code": """function f() {
  return 1;
}"""}"#,
            json!({"code": "function f() {\n  return 1;\n}"}),
            false,
        );
    }

    #[test]
    fn loose_syntax() {
        check("{a: 1 b = 2, /* note */ c: [1, 2,], // end\n}", json!({"a": 1, "b": 2, "c": [1, 2]}), false);
        check("{\"code\": \"line one\nline two\"}", json!({"code": "line one\nline two"}), false);
        check(r#"{"re": "\d+"}"#, json!({"re": "\\d+"}), false);
        check(r#"{"e": "\u00e9\ud83d\ude00"}"#, json!({"e": "é😀"}), false);
    }

    #[test]
    fn truncated_input_keeps_finished_members() {
        check(
            r#"{"reasoning": "r", "suggestion": {"x0": 5, "code0": "function f("#,
            json!({"reasoning": "r", "suggestion": {"x0": 5}}),
            true,
        );
        check(r#"{"a": 1, "b": [1, 2"#, json!({"a": 1}), true);
        check(r#"{"a": 1, "b": 12"#, json!({"a": 1}), true);
        check(r#"{"a": 1, "b": tr"#, json!({"a": 1}), true);
        check(r#"{"a": 1, "b""#, json!({"a": 1}), true);
    }

    #[test]
    fn invalid_input() {
        assert!(parse_value("{x}").is_none());
        assert!(parse_value("hello").is_none());
        assert!(parse_value("{\"a\": hello}").is_none());
        assert!(parse_value(&"[".repeat(1000)).is_none());
    }

    #[test]
    fn consumed_stops_after_value() {
        let parsed = parse_value("{\"a\": 1} and more").unwrap();

        assert_eq!(parsed.consumed, 8);
    }
}
