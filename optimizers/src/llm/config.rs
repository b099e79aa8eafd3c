//! Connection settings of the OpenAI-compatible client, from the environment or a file.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::error::{Error, Result};

/// Environment variable with the server's base URL, e.g. `https://api.openai.com/v1`.
pub const BASE_URL_VAR: &str = "OPENAI_BASE_URL";
/// Environment variable with the API key.
pub const API_KEY_VAR: &str = "OPENAI_API_KEY";
/// Environment variable with the default model; [`FALLBACK_MODEL_VAR`] is read when it is unset.
pub const MODEL_VAR: &str = "OPTO_MODEL";
/// Environment variable read for the model when [`MODEL_VAR`] is unset.
pub const FALLBACK_MODEL_VAR: &str = "OPENAI_MODEL";

/// Per-request timeout used when neither the file nor the caller sets one.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// An API key. Its `Debug` output is redacted so it never reaches a log by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key.
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// Returns the key itself, for the `Authorization` header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("ApiKey(<redacted>)")
    }
}

/// Settings of an [`OpenAiClient`](crate::llm::OpenAiClient).
///
/// # Example
///
/// ```
/// use optimizers::llm::LlmConfig;
///
/// let config = LlmConfig::new("http://127.0.0.1:8080/v1", "sk-local", "qwen2.5-0.5b")?;
/// assert_eq!(config.model, "qwen2.5-0.5b");
/// # Ok::<(), optimizers::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct LlmConfig {
    /// Base URL of the OpenAI-compatible API, up to and including `/v1`.
    pub base_url: String,
    /// The API key sent as a bearer token.
    pub api_key: ApiKey,
    /// The default model.
    pub model: String,
    /// Time limit of one HTTP request, from connecting to reading the whole body.
    pub timeout: Duration,
}

/// The keys a TOML or JSON config file may contain. Any key absent from the file is
/// read from the environment.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFileContents {
    base_url: Option<String>,
    api_key: Option<String>,
    model: Option<String>,
    timeout_secs: Option<f64>,
}

impl LlmConfig {
    /// Creates a config from explicit values with the default timeout.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSetting`] when `base_url` is not an http or https URL.
    pub fn new(base_url: impl Into<String>, api_key: impl Into<String>, model: impl Into<String>) -> Result<Self> {
        let base_url = base_url.into();
        validate_base_url("base_url", &base_url)?;
        Ok(Self { base_url, api_key: ApiKey::new(api_key), model: model.into(), timeout: DEFAULT_TIMEOUT })
    }

    /// Reads `OPENAI_BASE_URL`, `OPENAI_API_KEY` and `OPTO_MODEL` (or `OPENAI_MODEL`)
    /// from the process environment.
    ///
    /// # Errors
    ///
    /// [`Error::MissingSetting`] naming the first variable that is unset or empty, and
    /// [`Error::InvalidSetting`] for a base URL that is not an http or https URL.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`LlmConfig::from_env`], but reads variables through `lookup`, which lets
    /// tests and embedding programs supply their own environment.
    ///
    /// # Errors
    ///
    /// As [`LlmConfig::from_env`].
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        Self::merge(ConfigFileContents::default(), None, &lookup)
    }

    /// Reads a TOML (`.toml`) or JSON (`.json`) file with the keys `base_url`,
    /// `api_key`, `model` and `timeout_secs`. A key absent from the file is taken from
    /// the environment as in [`LlmConfig::from_env`].
    ///
    /// Keeping `api_key` out of the file and in `OPENAI_API_KEY` keeps the key out of
    /// version control.
    ///
    /// # Errors
    ///
    /// [`Error::ConfigFile`] when the file cannot be read or parsed or has an unknown
    /// key, and the errors of [`LlmConfig::from_env`] for settings still missing.
    pub fn from_file(path: &Path) -> Result<Self> {
        Self::from_file_with_lookup(path, |name| std::env::var(name).ok())
    }

    /// Like [`LlmConfig::from_file`], with the environment read through `lookup`.
    ///
    /// # Errors
    ///
    /// As [`LlmConfig::from_file`].
    pub fn from_file_with_lookup(path: &Path, lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let file_error = |reason: String| Error::ConfigFile { path: path.to_path_buf(), reason };
        let text = std::fs::read_to_string(path).map_err(|error| file_error(error.to_string()))?;

        let is_json = path.extension().is_some_and(|extension| extension == "json");
        let contents: ConfigFileContents = if is_json {
            serde_json::from_str(&text).map_err(|error| file_error(error.to_string()))?
        } else {
            toml::from_str(&text).map_err(|error| file_error(error.to_string()))?
        };

        Self::merge(contents, Some(path), &lookup)
    }

    fn merge(
        contents: ConfigFileContents,
        path: Option<&Path>,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self> {
        let non_empty = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let missing = |variable: &str, key: &str, example: &str| {
            let hint = match path {
                Some(path) => {
                    format!("set `{key}` in {} or the environment variable {variable}, e.g. {example}", path.display())
                }
                None => format!("set the environment variable, e.g. {variable}={example}"),
            };
            Error::MissingSetting { name: variable.to_owned(), hint }
        };

        let base_url = contents
            .base_url
            .or_else(|| non_empty(BASE_URL_VAR))
            .ok_or_else(|| missing(BASE_URL_VAR, "base_url", "http://127.0.0.1:8080/v1"))?;
        validate_base_url(BASE_URL_VAR, &base_url)?;

        let api_key = contents
            .api_key
            .or_else(|| non_empty(API_KEY_VAR))
            .ok_or_else(|| missing(API_KEY_VAR, "api_key", "sk-... (any value for a local server)"))?;

        let model = contents
            .model
            .or_else(|| non_empty(MODEL_VAR))
            .or_else(|| non_empty(FALLBACK_MODEL_VAR))
            .ok_or_else(|| missing(MODEL_VAR, "model", "gpt-4o-mini"))?;

        let timeout = match contents.timeout_secs {
            None => DEFAULT_TIMEOUT,
            Some(seconds) if seconds.is_finite() && seconds > 0.0 => Duration::from_secs_f64(seconds),
            Some(seconds) => {
                return Err(Error::InvalidSetting {
                    name: "timeout_secs".to_owned(),
                    value: seconds.to_string(),
                    reason: "expected a positive number of seconds".to_owned(),
                });
            }
        };

        Ok(Self { base_url, api_key: ApiKey::new(api_key), model, timeout })
    }
}

fn validate_base_url(name: &str, base_url: &str) -> Result<()> {
    let invalid = |reason: String| Error::InvalidSetting { name: name.to_owned(), value: base_url.to_owned(), reason };
    let url = reqwest::Url::parse(base_url)
        .map_err(|error| invalid(format!("{error}; expected an http or https URL such as http://127.0.0.1:8080/v1")))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(invalid(format!("scheme `{}` is not supported; use http or https", url.scheme())));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn lookup_from(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> =
            pairs.iter().map(|(name, value)| ((*name).to_owned(), (*value).to_owned())).collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn env_with_all_settings() {
        let lookup =
            lookup_from(&[(BASE_URL_VAR, "http://127.0.0.1:9/v1"), (API_KEY_VAR, "sk-test"), (MODEL_VAR, "small")]);

        let config = LlmConfig::from_lookup(lookup).expect("complete environment");

        assert_eq!(config.base_url, "http://127.0.0.1:9/v1");
        assert_eq!(config.api_key.expose(), "sk-test");
        assert_eq!(config.model, "small");
        assert_eq!(config.timeout, DEFAULT_TIMEOUT);
    }

    #[test]
    fn env_falls_back_to_openai_model() {
        let lookup = lookup_from(&[
            (BASE_URL_VAR, "http://127.0.0.1:9/v1"),
            (API_KEY_VAR, "sk-test"),
            (FALLBACK_MODEL_VAR, "other"),
        ]);

        let config = LlmConfig::from_lookup(lookup).expect("complete environment");

        assert_eq!(config.model, "other");
    }

    #[test]
    fn missing_settings_name_the_variable() {
        let cases = [
            (vec![(API_KEY_VAR, "k"), (MODEL_VAR, "m")], BASE_URL_VAR),
            (vec![(BASE_URL_VAR, "http://127.0.0.1:9"), (MODEL_VAR, "m")], API_KEY_VAR),
            (vec![(BASE_URL_VAR, "http://127.0.0.1:9"), (API_KEY_VAR, "k")], MODEL_VAR),
            (vec![(BASE_URL_VAR, "http://127.0.0.1:9"), (API_KEY_VAR, " "), (MODEL_VAR, "m")], API_KEY_VAR),
        ];

        for (pairs, expected) in cases {
            let error = LlmConfig::from_lookup(lookup_from(&pairs)).expect_err("incomplete");

            assert!(
                matches!(&error, Error::MissingSetting { name, .. } if name == expected),
                "expected {expected} missing, got {error}"
            );
            assert!(error.to_string().contains(expected), "{error}");
        }
    }

    #[test]
    fn invalid_base_url_is_rejected() {
        let lookup = lookup_from(&[(BASE_URL_VAR, "ftp://example.invalid"), (API_KEY_VAR, "k"), (MODEL_VAR, "m")]);

        let error = LlmConfig::from_lookup(lookup).expect_err("ftp is not http");

        assert!(matches!(error, Error::InvalidSetting { .. }), "{error}");
    }

    #[test]
    fn toml_file_wins_over_env() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("llm.toml");
        std::fs::write(&path, "base_url = \"http://127.0.0.1:1/v1\"\nmodel = \"file-model\"\ntimeout_secs = 2.5\n")
            .expect("write config");
        let lookup = lookup_from(&[(API_KEY_VAR, "sk-env"), (MODEL_VAR, "env-model")]);

        let config = LlmConfig::from_file_with_lookup(&path, lookup).expect("valid file");

        assert_eq!(config.base_url, "http://127.0.0.1:1/v1");
        assert_eq!(config.model, "file-model");
        assert_eq!(config.api_key.expose(), "sk-env");
        assert_eq!(config.timeout, Duration::from_millis(2500));
    }

    #[test]
    fn json_file_missing_key_names_file_and_variable() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("llm.json");
        std::fs::write(&path, r#"{"base_url": "http://127.0.0.1:1/v1", "model": "m"}"#).expect("write config");

        let error = LlmConfig::from_file_with_lookup(&path, |_| None).expect_err("no key");

        let message = error.to_string();
        assert!(message.contains(API_KEY_VAR), "{message}");
        assert!(message.contains("llm.json"), "{message}");
    }

    #[test]
    fn unknown_file_key_is_rejected() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("llm.toml");
        std::fs::write(&path, "base_uri = \"http://127.0.0.1:1\"\n").expect("write config");

        let error = LlmConfig::from_file_with_lookup(&path, |_| None).expect_err("typo");

        assert!(matches!(error, Error::ConfigFile { .. }), "{error}");
        assert!(error.to_string().contains("base_uri"), "{error}");
    }

    #[test]
    fn api_key_debug_is_redacted() {
        let key = ApiKey::new("sk-very-secret");

        assert!(!format!("{key:?}").contains("very-secret"));
    }
}
