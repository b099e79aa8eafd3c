//! Error text for a failed call: the error, then the source with the failing line marked,
//! then the JavaScript stack, so that an optimizer reading it can fix the code.

use std::fmt::Write;

/// Sources up to this many lines are shown whole; longer ones as a window around the
/// failing line.
const MAX_FULL_LINES: usize = 40;
/// Lines shown before and after the failing line of a long source.
const WINDOW_LINES: usize = 8;

/// An error raised while compiling or running a script.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ScriptError {
    /// The constructor name, such as `SyntaxError`, or `Error` for thrown non-errors.
    pub(crate) name: String,
    /// The message.
    pub(crate) message: String,
    /// The JavaScript stack, one `at ...` frame a line, when there is one.
    pub(crate) stack: Option<String>,
}

/// A line and column (both from 1) in the source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Location {
    pub(crate) line: usize,
    pub(crate) column: usize,
}

/// Finds the location of the first stack frame that points into `filename`.
pub(crate) fn failing_location(stack: &str, filename: &str) -> Option<Location> {
    let pattern = format!("{filename}:");
    stack.lines().find_map(|frame| {
        let start = frame.find(&pattern)? + pattern.len();
        let mut numbers = frame[start..].split(|c: char| !c.is_ascii_digit()).filter(|part| !part.is_empty());
        let line = numbers.next()?.parse().ok()?;
        let column = numbers.next().and_then(|part| part.parse().ok()).unwrap_or(1);
        Some(Location { line, column })
    })
}

/// Renders `error` with `source` (named `filename` in stack frames) and the failing line
/// marked with `>>` and a caret under the failing column.
pub(crate) fn annotate(source: &str, filename: &str, error: &ScriptError) -> String {
    let mut text = format!("{}: {}", error.name, error.message);
    let location = error.stack.as_deref().and_then(|stack| failing_location(stack, filename));
    if let Some(location) = location {
        let _ = write!(text, " (line {}, column {})", location.line, location.column);
    }
    text.push('\n');
    text.push_str(&render_source(source, location));
    if let Some(stack) = error.stack.as_deref().map(str::trim_end).filter(|stack| !stack.is_empty()) {
        text.push_str("JavaScript stack:\n");
        text.push_str(stack);
        text.push('\n');
    }
    text
}

/// Renders the source with line numbers, `>>` before the failing line and a caret under
/// the failing column.
pub(crate) fn render_source(source: &str, location: Option<Location>) -> String {
    let lines: Vec<&str> = source.lines().collect();
    let width = lines.len().max(1).to_string().len();
    let failing_line = location.map(|location| location.line);

    let (first, last) = match failing_line {
        Some(line) if lines.len() > MAX_FULL_LINES => {
            (line.saturating_sub(WINDOW_LINES).max(1), (line + WINDOW_LINES).min(lines.len()))
        }
        _ => (1, lines.len()),
    };

    let mut text = String::new();
    if first > 1 {
        let _ = writeln!(text, "   {:>width$} | ...", "");
    }
    for (index, line) in lines.iter().enumerate().take(last).skip(first - 1) {
        let number = index + 1;
        let marker = if Some(number) == failing_line { ">>" } else { "  " };
        let _ = writeln!(text, "{marker} {number:>width$} | {line}");
        if let Some(location) = location.filter(|location| location.line == number) {
            let caret_indent: String = line
                .chars()
                .take(location.column.saturating_sub(1))
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            let _ = writeln!(text, "   {:>width$} | {caret_indent}^", "");
        }
    }
    if last < lines.len() {
        let _ = writeln!(text, "   {:>width$} | ...", "");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_comes_from_first_frame_in_file() {
        let stack = "    at shoot (native)\n    at f (__code3:3:31)\n    at <eval> (__code3:6:1)\n";

        assert_eq!(failing_location(stack, "__code3"), Some(Location { line: 3, column: 31 }));
        assert_eq!(failing_location("    at __code3:2:14\n", "__code3"), Some(Location { line: 2, column: 14 }));
        assert_eq!(failing_location("    at f (other:1:1)\n", "__code3"), None);
    }

    #[test]
    fn annotate_marks_failing_line_and_column() {
        let source = "function f(x) {\n  return x.foo.bar;\n}";
        let error = ScriptError {
            name: "TypeError".to_string(),
            message: "cannot read property 'bar' of undefined".to_string(),
            stack: Some("    at f (__code0:2:15)\n".to_string()),
        };

        let text = annotate(source, "__code0", &error);

        assert_eq!(
            text,
            "TypeError: cannot read property 'bar' of undefined (line 2, column 15)\n\
             \x20  1 | function f(x) {\n\
             >> 2 |   return x.foo.bar;\n\
             \x20    |               ^\n\
             \x20  3 | }\n\
             JavaScript stack:\n\
             \x20   at f (__code0:2:15)\n"
        );
    }

    #[test]
    fn annotate_without_location_shows_whole_source() {
        let error = ScriptError { name: "Error".to_string(), message: "boom".to_string(), stack: None };

        let text = annotate("function f() {\n  throw 1;\n}", "__code0", &error);

        assert_eq!(text, "Error: boom\n   1 | function f() {\n   2 |   throw 1;\n   3 | }\n");
    }

    #[test]
    fn long_sources_show_a_window() {
        let source: String = (1..=100).map(|n| format!("line{n}\n")).collect();

        let text = render_source(&source, Some(Location { line: 50, column: 1 }));

        assert!(text.starts_with("       | ...\n    42 | line42\n"), "{text}");
        assert!(text.contains(">>  50 | line50\n       | ^\n"), "{text}");
        assert!(text.ends_with("    58 | line58\n       | ...\n"), "{text}");
    }
}
