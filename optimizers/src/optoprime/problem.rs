//! The nine sections of an OptoPrime problem, built from a [`Summary`], and their
//! truncation to a prompt size limit.

use serde::Serialize;
use trace_core::{Node, Summary, SummaryEntry};

/// The sections of the problem shown to the model.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Problem {
    pub(crate) instruction: String,
    pub(crate) code: Section,
    pub(crate) documentation: Section,
    pub(crate) variables: Vec<String>,
    pub(crate) constraints: Vec<String>,
    pub(crate) inputs: Section,
    pub(crate) others: Section,
    pub(crate) outputs: Section,
    pub(crate) feedback: String,
}

/// The lines of a section that may be shortened to fit the prompt size limit.
#[derive(Clone, Debug, Default, Serialize)]
pub(crate) struct Section {
    lines: Vec<String>,
}

/// A line longer than this many characters is the first thing cut when a prompt is too long.
const MAX_LINE_CHARS: usize = 2000;

impl Section {
    fn new(lines: Vec<String>) -> Section {
        Section { lines }
    }

    #[cfg(test)]
    fn chars(&self) -> usize {
        self.lines.iter().map(|line| line.chars().count() + 1).sum()
    }

    pub(crate) fn lines(&self) -> &[String] {
        &self.lines
    }

    /// Shortens lines over [`MAX_LINE_CHARS`]; returns the number of characters saved.
    fn cap_lines(&mut self) -> usize {
        let mut saved = 0;
        for line in &mut self.lines {
            let length = line.chars().count();
            if length <= MAX_LINE_CHARS {
                continue;
            }
            let kept: String = line.chars().take(MAX_LINE_CHARS).collect();
            let note = format!(" ... ({} more characters)", length - MAX_LINE_CHARS);
            saved += (length - MAX_LINE_CHARS).saturating_sub(note.chars().count());
            *line = kept + &note;
        }
        saved
    }

    /// Replaces a block of lines around the middle, keeping the first and the last line,
    /// by one note line, until at least `needed` characters are saved or only two lines
    /// remain. Returns the number of characters saved.
    fn cut_middle(&mut self, needed: usize) -> usize {
        let count = self.lines.len();
        if count <= 2 || needed == 0 {
            return 0;
        }

        let middle = count / 2;
        let (mut start, mut end) = (middle, middle);
        let mut removed = 0;
        while removed < needed + NOTE_ALLOWANCE && (start > 1 || end < count - 1) {
            if end < count - 1 && (end - middle <= middle - start || start <= 1) {
                removed += self.lines[end].chars().count() + 1;
                end += 1;
            } else {
                start -= 1;
                removed += self.lines[start].chars().count() + 1;
            }
        }

        let note = format!("... ({} lines omitted to fit the prompt size limit)", end - start);
        let saved = removed.saturating_sub(note.chars().count() + 1);
        self.lines.splice(start..end, std::iter::once(note));
        saved
    }
}

/// Room for the note line that replaces cut lines.
const NOTE_ALLOWANCE: usize = 64;

impl Problem {
    /// Builds the problem for `summary`. Variables of the summary that are not among `members`
    /// (trainable parameters of another optimizer) are shown as inputs.
    pub(crate) fn new(summary: &Summary, members: &[Node], instruction: String) -> (Problem, Vec<Node>) {
        // Keys are unique per node, so a key set finds members in constant time.
        let member_keys: std::collections::HashSet<&str> = members.iter().map(Node::key).collect();
        let (variables, foreign): (Vec<&SummaryEntry>, Vec<&SummaryEntry>) = summary
            .variables
            .iter()
            .partition(|entry| member_keys.contains(entry.node.key()) && entry.node.is_trainable());

        let constraints = variables
            .iter()
            .filter_map(|entry| {
                let constraint = entry.constraint.as_deref()?;
                Some(format!("({}) {}: {constraint}", entry.value.type_tag(), entry.key))
            })
            .collect();
        let documentation = summary
            .documentation
            .iter()
            .map(
                |(op, description)| {
                    if description.starts_with('[') { description.clone() } else { format!("[{op}] {description}") }
                },
            )
            .collect();
        let inputs = foreign.iter().copied().chain(&summary.inputs).map(SummaryEntry::render).collect();

        let problem = Problem {
            instruction,
            code: Section::new(summary.code_lines()),
            documentation: Section::new(documentation),
            variables: variables.iter().map(|entry| entry.render()).collect(),
            constraints,
            inputs: Section::new(inputs),
            others: Section::new(summary.others.iter().map(SummaryEntry::render).collect()),
            outputs: Section::new(summary.outputs.iter().map(SummaryEntry::render).collect()),
            feedback: summary.feedback_text(),
        };
        (problem, variables.iter().map(|entry| entry.node.clone()).collect())
    }

    /// Cuts `excess` characters from the sections that can be shortened: first every
    /// overlong line, then blocks in the middle of #Others, #Inputs, #Documentation, #Code
    /// and #Outputs, in that order. Variables, constraints and feedback are never cut.
    /// Returns how many characters are still in excess.
    pub(crate) fn shrink(&mut self, excess: usize) -> usize {
        let mut excess = excess;
        for section in self.sections_to_cut() {
            if excess == 0 {
                return 0;
            }
            excess = excess.saturating_sub(section.cap_lines());
        }
        for section in self.sections_to_cut() {
            if excess == 0 {
                return 0;
            }
            excess = excess.saturating_sub(section.cut_middle(excess));
        }
        excess
    }

    fn sections_to_cut(&mut self) -> [&mut Section; 5] {
        [&mut self.others, &mut self.inputs, &mut self.documentation, &mut self.code, &mut self.outputs]
    }

    /// Returns the size of the shortenable sections in characters.
    #[cfg(test)]
    fn shortenable_chars(&self) -> usize {
        [&self.others, &self.inputs, &self.documentation, &self.code, &self.outputs].iter().map(|s| s.chars()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_middle_keeps_ends_and_notes_count() {
        let mut section = Section::new((0..100).map(|i| format!("line {i:03} {}", "x".repeat(90))).collect());

        let saved = section.cut_middle(1000);

        assert!(saved >= 1000, "saved {saved}");
        assert_eq!(section.lines[0], format!("line 000 {}", "x".repeat(90)));
        assert_eq!(section.lines.last().unwrap(), &format!("line 099 {}", "x".repeat(90)));
        assert!(section.lines.iter().any(|line| line.ends_with("lines omitted to fit the prompt size limit)")));
    }

    #[test]
    fn cut_middle_of_two_lines_saves_nothing() {
        let mut section = Section::new(vec!["a".repeat(500), "b".repeat(500)]);

        assert_eq!(section.cut_middle(100), 0);
        assert_eq!(section.lines.len(), 2);
    }

    #[test]
    fn cap_lines_shortens_long_values() {
        let mut section = Section::new(vec!["x".repeat(5000)]);

        let saved = section.cap_lines();

        assert!(section.lines[0].ends_with("... (3000 more characters)"));
        assert_eq!(saved, 5000 - section.lines[0].chars().count());
    }

    #[test]
    fn shrink_reports_what_it_could_not_cut() {
        let (mut problem, _) = Problem::new(&Summary::default(), &[], "goal".to_string());
        problem.others = Section::new((0..50).map(|i| format!("(int) add{i}={i}")).collect());
        let before = problem.shortenable_chars();

        let left = problem.shrink(100_000);

        assert!(left > 0);
        assert!(problem.shortenable_chars() < before);
        assert_eq!(problem.others.lines.len(), 3);
    }
}
