//! The name and parameter list of the one function a code parameter declares, read by a
//! small JavaScript scanner that skips comments, strings, template literals and regular
//! expression literals, so that it can match brackets.
//!
//! The scanner checks structure only: one top-level `function` declaration and nothing
//! else. Syntax errors inside the body are QuickJS's to find when the code runs.

use std::fmt;

/// The name and parameters of a JavaScript function declaration.
///
/// ```
/// use trace_core::FunctionSignature;
///
/// let signature = FunctionSignature::parse("function extract(answer, question = '') { return answer; }")?;
///
/// assert_eq!(signature.name(), "extract");
/// assert_eq!(signature.parameters(), ["answer", "question = ''"]);
/// assert_eq!(signature.to_string(), "function extract(answer, question = '')");
/// # Ok::<(), String>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionSignature {
    is_async: bool,
    name: String,
    parameters: Vec<String>,
}

impl FunctionSignature {
    /// Reads the signature of the single top-level function declaration in `source`.
    ///
    /// # Errors
    ///
    /// A reason, with the line it refers to, when `source` is not exactly one function
    /// declaration (optionally `async`, not a generator) with balanced brackets, closed
    /// strings and closed comments.
    pub fn parse(source: &str) -> Result<FunctionSignature, String> {
        let tokens = Scanner::new(source).tokens()?;
        let mut cursor = tokens.iter().peekable();

        let first = cursor
            .next()
            .ok_or("the source is empty; it must declare one function, such as `function f(x) { return x; }`")?;
        let (is_async, function_keyword) = match first.text {
            "async" => (true, cursor.next()),
            _ => (false, Some(first)),
        };
        match function_keyword {
            Some(token) if token.text == "function" => {}
            Some(token) => {
                return Err(format!(
                    "line {}: expected the source to start with a function declaration `function name(...) {{ ... }}`, found `{}`",
                    token.line, token.text
                ));
            }
            None => return Err("the source ends after `async`; expected a function declaration".to_string()),
        }

        let name = match cursor.next() {
            Some(token) if token.text == "*" => {
                return Err(format!(
                    "line {}: generator functions are not supported; declare a plain function",
                    token.line
                ));
            }
            Some(token) if token.kind == TokenKind::Identifier => token.text.to_string(),
            Some(token) => {
                return Err(format!(
                    "line {}: expected the function name after `function`, found `{}`",
                    token.line, token.text
                ));
            }
            None => return Err("the source ends after `function`; expected a function name".to_string()),
        };

        let open_paren = match cursor.next() {
            Some(token) if token.text == "(" => token,
            Some(token) => {
                return Err(format!(
                    "line {}: expected `(` after the function name `{name}`, found `{}`",
                    token.line, token.text
                ));
            }
            None => return Err(format!("the source ends after the function name `{name}`; expected `(`")),
        };
        let parameters = read_parameters(source, open_paren, &mut cursor, &name)?;

        match cursor.next() {
            Some(token) if token.text == "{" => skip_balanced(token, &mut cursor, &name)?,
            Some(token) => {
                return Err(format!(
                    "line {}: expected `{{` to open the body of `{name}`, found `{}`",
                    token.line, token.text
                ));
            }
            None => return Err(format!("the source ends before the body of `{name}`; expected `{{`")),
        }

        if let Some(extra) = cursor.find(|token| token.text != ";") {
            return Err(format!(
                "line {}: found `{}` after the function `{name}`; the source must contain exactly one top-level function declaration, so move other code inside it",
                extra.line, extra.text
            ));
        }
        Ok(FunctionSignature { is_async, name, parameters })
    }

    /// The function name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The parameters as written, with runs of whitespace collapsed to one space.
    pub fn parameters(&self) -> &[String] {
        &self.parameters
    }

    /// Whether the function is declared `async`.
    pub fn is_async(&self) -> bool {
        self.is_async
    }

    /// Names for the inputs of a traced call, one per parameter: the identifier of a
    /// plain or defaulted parameter, `argN` (from 0) for a destructured one, and the name
    /// after `...` for a rest parameter.
    pub fn argument_names(&self) -> Vec<String> {
        self.parameters
            .iter()
            .enumerate()
            .map(|(position, parameter)| {
                let head = parameter.trim_start_matches("...");
                let identifier: String =
                    head.chars().take_while(|&c| c == '_' || c == '$' || c.is_alphanumeric()).collect();
                if identifier.is_empty() || identifier.starts_with(|c: char| c.is_ascii_digit()) {
                    format!("arg{position}")
                } else {
                    identifier
                }
            })
            .collect()
    }
}

impl fmt::Display for FunctionSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_async {
            f.write_str("async ")?;
        }
        write!(f, "function {}({})", self.name, self.parameters.join(", "))
    }
}

fn read_parameters<'a>(
    source: &str,
    open_paren: &Token<'a>,
    cursor: &mut impl Iterator<Item = &'a Token<'a>>,
    name: &str,
) -> Result<Vec<String>, String> {
    let mut parameters = Vec::new();
    let mut depth = 0usize;
    let mut start = open_paren.end;
    for token in cursor.by_ref() {
        match token.text {
            "(" | "[" | "{" => depth += 1,
            ")" | "]" | "}" if depth > 0 => depth -= 1,
            ")" => {
                push_parameter(&mut parameters, source.get(start..token.start).unwrap_or_default());
                return Ok(parameters);
            }
            "]" | "}" => {
                return Err(format!(
                    "line {}: unexpected `{}` in the parameter list of `{name}`",
                    token.line, token.text
                ));
            }
            "," if depth == 0 => {
                push_parameter(&mut parameters, source.get(start..token.start).unwrap_or_default());
                start = token.end;
            }
            _ => {}
        }
    }
    Err(format!("line {}: the parameter list of `{name}` is never closed with `)`", open_paren.line))
}

fn push_parameter(parameters: &mut Vec<String>, text: &str) {
    let normalized = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if !normalized.is_empty() {
        parameters.push(normalized);
    }
}

fn skip_balanced<'a>(
    open: &Token<'a>,
    cursor: &mut impl Iterator<Item = &'a Token<'a>>,
    name: &str,
) -> Result<(), String> {
    let mut open_brackets = vec![open];
    for token in cursor.by_ref() {
        match token.text {
            "(" | "[" | "{" => open_brackets.push(token),
            ")" | "]" | "}" => {
                let expected = match open_brackets.pop().map(|open| open.text) {
                    Some("(") => ")",
                    Some("[") => "]",
                    _ => "}",
                };
                if token.text != expected {
                    return Err(format!(
                        "line {}: found `{}` where `{expected}` was expected in the body of `{name}`",
                        token.line, token.text
                    ));
                }
                if open_brackets.is_empty() {
                    return Ok(());
                }
            }
            _ => {}
        }
    }
    let unclosed = open_brackets.last().map_or(open.line, |token| token.line);
    Err(format!("line {unclosed}: `{{`, `(` or `[` opened here in the body of `{name}` is never closed"))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TokenKind {
    Identifier,
    Punctuator,
    /// Numbers, strings, template literals and regular expressions.
    Literal,
}

#[derive(Debug)]
struct Token<'a> {
    kind: TokenKind,
    text: &'a str,
    start: usize,
    end: usize,
    line: usize,
}

/// Splits JavaScript source into the tokens that matter for bracket matching.
struct Scanner<'a> {
    source: &'a str,
    bytes: &'a [u8],
    position: usize,
    line: usize,
    /// The brace depth at which each open template literal's `${` substitution started.
    template_depths: Vec<usize>,
    brace_depth: usize,
}

impl<'a> Scanner<'a> {
    fn new(source: &'a str) -> Scanner<'a> {
        Scanner { source, bytes: source.as_bytes(), position: 0, line: 1, template_depths: Vec::new(), brace_depth: 0 }
    }

    fn tokens(mut self) -> Result<Vec<Token<'a>>, String> {
        let mut tokens: Vec<Token<'a>> = Vec::new();
        while let Some(token) = self.next_token(tokens.last())? {
            tokens.push(token);
        }
        Ok(tokens)
    }

    fn peek(&self, offset: usize) -> Option<u8> {
        self.bytes.get(self.position + offset).copied()
    }

    fn advance(&mut self) {
        if self.peek(0) == Some(b'\n') {
            self.line += 1;
        }
        self.position += 1;
    }

    fn next_token(&mut self, previous: Option<&Token<'a>>) -> Result<Option<Token<'a>>, String> {
        self.skip_trivia()?;
        let Some(byte) = self.peek(0) else { return Ok(None) };
        let (start, line) = (self.position, self.line);

        let kind = match byte {
            b'"' | b'\'' => {
                self.skip_string(byte)?;
                TokenKind::Literal
            }
            b'`' => {
                self.advance();
                self.skip_template_rest()?;
                TokenKind::Literal
            }
            b'}' if self.template_depths.last() == Some(&self.brace_depth) => {
                self.template_depths.pop();
                self.advance();
                self.skip_template_rest()?;
                TokenKind::Literal
            }
            b'/' if regex_may_follow(previous) => {
                self.skip_regex()?;
                TokenKind::Literal
            }
            b'0'..=b'9' => {
                while self.peek(0).is_some_and(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_') {
                    self.advance();
                }
                TokenKind::Literal
            }
            byte if byte == b'_' || byte == b'$' || byte.is_ascii_alphabetic() || byte >= 0x80 => {
                while self.peek(0).is_some_and(|b| b == b'_' || b == b'$' || b.is_ascii_alphanumeric() || b >= 0x80) {
                    self.advance();
                }
                TokenKind::Identifier
            }
            _ => {
                match byte {
                    b'{' => self.brace_depth += 1,
                    b'}' => self.brace_depth = self.brace_depth.saturating_sub(1),
                    _ => {}
                }
                self.advance();
                TokenKind::Punctuator
            }
        };
        let text = self.source.get(start..self.position).unwrap_or_default();
        Ok(Some(Token { kind, text, start, end: self.position, line }))
    }

    fn skip_trivia(&mut self) -> Result<(), String> {
        loop {
            match (self.peek(0), self.peek(1)) {
                (Some(b), _) if b.is_ascii_whitespace() => self.advance(),
                (Some(b'/'), Some(b'/')) => {
                    while self.peek(0).is_some_and(|b| b != b'\n') {
                        self.advance();
                    }
                }
                (Some(b'/'), Some(b'*')) => {
                    let line = self.line;
                    self.advance();
                    self.advance();
                    loop {
                        match (self.peek(0), self.peek(1)) {
                            (Some(b'*'), Some(b'/')) => break,
                            (Some(_), _) => self.advance(),
                            (None, _) => return Err(format!("line {line}: a `/*` comment is never closed with `*/`")),
                        }
                    }
                    self.advance();
                    self.advance();
                }
                _ => return Ok(()),
            }
        }
    }

    fn skip_string(&mut self, quote: u8) -> Result<(), String> {
        let line = self.line;
        self.advance();
        loop {
            match self.peek(0) {
                Some(b'\\') => {
                    self.advance();
                    self.advance();
                }
                Some(b) if b == quote => {
                    self.advance();
                    return Ok(());
                }
                Some(b'\n') | None => return Err(format!("line {line}: a string literal is never closed")),
                Some(_) => self.advance(),
            }
        }
    }

    /// Skips template text up to the closing backtick, or up to a `${`, whose end the
    /// scanner then finds by brace depth.
    fn skip_template_rest(&mut self) -> Result<(), String> {
        let line = self.line;
        loop {
            match self.peek(0) {
                Some(b'\\') => {
                    self.advance();
                    self.advance();
                }
                Some(b'`') => {
                    self.advance();
                    return Ok(());
                }
                Some(b'$') if self.peek(1) == Some(b'{') => {
                    self.advance();
                    self.advance();
                    self.template_depths.push(self.brace_depth);
                    return Ok(());
                }
                Some(_) => self.advance(),
                None => return Err(format!("line {line}: a template literal is never closed with a backtick")),
            }
        }
    }

    fn skip_regex(&mut self) -> Result<(), String> {
        let line = self.line;
        let mut in_class = false;
        self.advance();
        loop {
            match self.peek(0) {
                Some(b'\\') => {
                    self.advance();
                    self.advance();
                }
                Some(b'[') => {
                    in_class = true;
                    self.advance();
                }
                Some(b']') => {
                    in_class = false;
                    self.advance();
                }
                Some(b'/') if !in_class => {
                    self.advance();
                    while self.peek(0).is_some_and(|b| b.is_ascii_alphabetic()) {
                        self.advance();
                    }
                    return Ok(());
                }
                Some(b'\n') | None => return Err(format!("line {line}: a regular expression literal is never closed")),
                Some(_) => self.advance(),
            }
        }
    }
}

/// Tells whether a `/` after `previous` starts a regular expression rather than a
/// division, by the usual heuristic of JavaScript highlighters. It is right for code that
/// ends an expression with `)`, `]`, `}`, a name or a literal before dividing.
fn regex_may_follow(previous: Option<&Token<'_>>) -> bool {
    const KEYWORDS: &[&str] = &[
        "return",
        "typeof",
        "instanceof",
        "in",
        "of",
        "new",
        "delete",
        "void",
        "throw",
        "case",
        "do",
        "else",
        "yield",
        "await",
    ];
    match previous {
        None => true,
        Some(token) => match token.kind {
            TokenKind::Identifier => KEYWORDS.contains(&token.text),
            TokenKind::Literal => false,
            TokenKind::Punctuator => !matches!(token.text, ")" | "]" | "}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn check(source: &str, expected: &str) {
        let signature = FunctionSignature::parse(source).unwrap_or_else(|error| panic!("{source:?}: {error}"));
        assert_eq!(signature.to_string(), expected, "signature of {source:?}");
    }

    fn check_error(source: &str, expected_part: &str) {
        let error = FunctionSignature::parse(source).expect_err(source);
        assert!(
            error.contains(expected_part),
            "error for {source:?} was {error:?}, expected it to contain {expected_part:?}"
        );
    }

    #[test]
    fn parses_plain_declarations() {
        check("function f(x) { return x + 1; }", "function f(x)");
        check("  // leading comment\n/* block */ function add(a,\n   b) {\n return a + b;\n}\n", "function add(a, b)");
        check("function none() {}", "function none()");
        check("function trailing(a, b,) {};", "function trailing(a, b)");
        check("async function fetchIt(url) { return await url; }", "async function fetchIt(url)");
    }

    #[test]
    fn parses_complex_parameters() {
        let signature = FunctionSignature::parse("function g({a, b} = {}, [c] , d = f(1, 2), ...rest) {}").unwrap();

        assert_eq!(signature.parameters(), ["{a, b} = {}", "[c]", "d = f(1, 2)", "...rest"]);
        assert_eq!(signature.argument_names(), ["arg0", "arg1", "d", "rest"]);
    }

    #[test]
    fn skips_brackets_inside_strings_comments_templates_and_regexes() {
        check(r#"function f(x) { const s = "}"; return s + '{'; }"#, "function f(x)");
        check("function f(x) { // }\n return x; }", "function f(x)");
        check("function f(x) { /* } */ return x; }", "function f(x)");
        check("function f(x) { return `a ${ {b: x}.b } }`; }", "function f(x)");
        check("function f(x) { return `outer ${`inner ${x}`} }`; }", "function f(x)");
        check("function f(x) { return /[}{]\\//g.test(x); }", "function f(x)");
        check("function f(x) { return (x) / 2 / (1) + [x][0] / 3; }", "function f(x)");
    }

    #[test]
    fn rejects_other_shapes() {
        check_error("", "the source is empty");
        check_error("const f = (x) => x;", "expected the source to start with a function declaration");
        check_error("function (x) { return x; }", "expected the function name");
        check_error("function* gen(x) { yield x; }", "generator functions are not supported");
        check_error("function f(x) { return x; }\nf(1);", "line 2: found `f` after the function `f`");
        check_error("function f(x) { return x; }\nfunction g() {}", "exactly one top-level function declaration");
    }

    #[test]
    fn rejects_unbalanced_source() {
        check_error("function f(x) {\n  if (x) {\n    return 1;\n}", "line 1: `{`, `(` or `[` opened here");
        check_error("function f x) { return x; }", "expected `(` after the function name `f`");
        check_error("function f(x) { return (x]; }", "found `]` where `)` was expected");
        check_error("function f(x) { return 'abc; }", "string literal is never closed");
        check_error("function f(x) { /* return x; }", "comment is never closed");
        check_error("function f(x) { return `abc; }", "template literal is never closed");
        check_error("function f(x", "parameter list of `f` is never closed");
    }

    proptest! {
        #[test]
        fn parse_never_panics(source in "\\PC{0,80}") {
            let _ = FunctionSignature::parse(&source);
        }

        #[test]
        fn parse_never_panics_on_javascript_like_text(
            source in "(function|async| |f|x|\\(|\\)|\\{|\\}|\\[|\\]|,|;|'|\"|`|\\$\\{|/|\\*|\\\\|\n|é|return){0,40}",
        ) {
            let _ = FunctionSignature::parse(&source);
        }
    }
}
