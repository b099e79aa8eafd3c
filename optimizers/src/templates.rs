//! The prompt templates of the optimizers, written in Tera and kept in the repository's
//! `prompts/` folder.
//!
//! The defaults are compiled into the crate and parsed once. [`Templates::from_dir`] loads
//! a user's folder laid out like `prompts/` (for example `optoprime/system.tera`), and every
//! file found there replaces the default of the same name.

use std::path::Path;
use std::sync::{Arc, LazyLock};

use tera::{Context, Tera};

use crate::error::{Error, Result};

/// Names and texts of the default templates, as paths relative to `prompts/`.
const DEFAULT_TEMPLATES: [(&str, &str); 17] = [
    ("optoprime/objective.tera", include_str!("../../prompts/optoprime/objective.tera")),
    ("optoprime/system.tera", include_str!("../../prompts/optoprime/system.tera")),
    ("optoprime/reply_format.tera", include_str!("../../prompts/optoprime/reply_format.tera")),
    ("optoprime/problem.tera", include_str!("../../prompts/optoprime/problem.tera")),
    ("optoprime/user.tera", include_str!("../../prompts/optoprime/user.tera")),
    ("optoprime/memory_entry.tera", include_str!("../../prompts/optoprime/memory_entry.tera")),
    ("optoprime/retry.tera", include_str!("../../prompts/optoprime/retry.tera")),
    ("opro/objective.tera", include_str!("../../prompts/opro/objective.tera")),
    ("opro/system.tera", include_str!("../../prompts/opro/system.tera")),
    ("opro/user.tera", include_str!("../../prompts/opro/user.tera")),
    ("opro/retry.tera", include_str!("../../prompts/opro/retry.tera")),
    ("textgrad/system.tera", include_str!("../../prompts/textgrad/system.tera")),
    ("textgrad/gradient.tera", include_str!("../../prompts/textgrad/gradient.tera")),
    ("textgrad/reduce.tera", include_str!("../../prompts/textgrad/reduce.tera")),
    ("textgrad/descent.tera", include_str!("../../prompts/textgrad/descent.tera")),
    ("textgrad/retry.tera", include_str!("../../prompts/textgrad/retry.tera")),
    ("textgrad/empty_reply.tera", include_str!("../../prompts/textgrad/empty_reply.tera")),
];

static DEFAULTS: LazyLock<Result<Arc<Tera>, String>> = LazyLock::new(|| {
    let mut tera = Tera::default();
    tera.add_raw_templates(DEFAULT_TEMPLATES).map(|()| Arc::new(tera)).map_err(|error| describe(&error))
});

/// A set of parsed prompt templates, cheap to clone.
#[derive(Clone, Debug)]
pub struct Templates {
    tera: Arc<Tera>,
}

impl Default for Templates {
    fn default() -> Templates {
        Templates::defaults()
    }
}

impl Templates {
    /// Returns the templates compiled into the crate.
    ///
    /// # Panics
    ///
    /// When a default template does not parse, a defect of this crate that its tests catch.
    pub fn defaults() -> Templates {
        match &*DEFAULTS {
            Ok(tera) => Templates { tera: tera.clone() },
            Err(reason) => panic!("a default prompt template does not parse: {reason}"),
        }
    }

    /// Loads the default templates, each replaced by the file of `dir` with the same name
    /// (such as `optoprime/problem.tera`) when there is one. Other files are ignored.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when `dir` or one of its template files cannot be read, and
    /// [`Error::Template`] when a template does not parse.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Templates> {
        let dir = dir.as_ref();
        std::fs::metadata(dir).map_err(|source| Error::Io { path: dir.to_path_buf(), source })?;

        let mut texts: Vec<(&str, String)> = Vec::with_capacity(DEFAULT_TEMPLATES.len());
        for (name, default_text) in DEFAULT_TEMPLATES {
            let path = dir.join(name);
            let text = if path.is_file() {
                std::fs::read_to_string(&path).map_err(|source| Error::Io { path: path.clone(), source })?
            } else {
                default_text.to_string()
            };
            texts.push((name, text));
        }

        let mut tera = Tera::default();
        tera.add_raw_templates(texts)
            .map_err(|error| Error::Template { name: dir.display().to_string(), reason: describe(&error) })?;
        Ok(Templates { tera: Arc::new(tera) })
    }

    /// Renders the template `name` without variables, for fixed texts such as a default
    /// objective.
    ///
    /// # Errors
    ///
    /// As [`Templates::render`].
    pub fn render_plain(&self, name: &str) -> Result<String> {
        self.render(name, &Context::new())
    }

    /// Renders the template `name` (such as `optoprime/user.tera`) with `context`.
    ///
    /// # Errors
    ///
    /// [`Error::Template`] when the template is unknown or fails to render, for example
    /// because a user's template names a variable the optimizer does not provide.
    pub fn render(&self, name: &str, context: &Context) -> Result<String> {
        self.tera
            .render(name, context)
            .map_err(|error| Error::Template { name: name.to_string(), reason: describe(&error) })
    }
}

/// Formats the error with its chain of causes, because Tera puts the useful part in the
/// source.
fn describe(error: &tera::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parse() {
        let templates = Templates::defaults();

        let mut context = Context::new();
        context.insert("error", "the reply is empty");
        context.insert("keys", &["x0", "y0"]);
        let text = templates.render("optoprime/retry.tera", &context).unwrap();

        assert!(text.starts_with("Your reply could not be used: the reply is empty"));
        assert!(text.contains("x0, y0"));
    }

    #[test]
    fn directory_overrides_only_its_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("optoprime")).unwrap();
        std::fs::write(dir.path().join("optoprime/retry.tera"), "bad reply: {{ error }}").unwrap();

        let templates = Templates::from_dir(dir.path()).unwrap();
        let mut context = Context::new();
        context.insert("error", "empty");
        context.insert("keys", &["x0"]);

        assert_eq!(templates.render("optoprime/retry.tera", &context).unwrap(), "bad reply: empty");
        assert!(templates.render("opro/retry.tera", &context).unwrap().contains("x0"));
    }

    #[test]
    fn broken_user_template_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("opro")).unwrap();
        std::fs::write(dir.path().join("opro/user.tera"), "{% if %}").unwrap();

        let error = Templates::from_dir(dir.path()).unwrap_err();

        assert!(matches!(error, Error::Template { .. }), "{error}");
    }

    #[test]
    fn missing_directory_is_an_error() {
        let error = Templates::from_dir("/nonexistent/opto-prompts").unwrap_err();

        assert!(matches!(error, Error::Io { .. }), "{error}");
    }
}
