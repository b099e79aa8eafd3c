//! The OpenAI-compatible HTTP client on `async-openai`, for OpenAI, vLLM, llama.cpp,
//! Ollama and other servers that implement `POST /chat/completions`.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::middleware::HttpRequestFactory;
use async_openai::types::chat::{
    ChatCompletionRequestAssistantMessage, ChatCompletionRequestMessage, ChatCompletionRequestSystemMessage,
    ChatCompletionRequestUserMessage, CreateChatCompletionRequest, ResponseFormat as OpenAiResponseFormat,
    ResponseFormatJsonSchema,
};
use async_trait::async_trait;
use parking_lot::Mutex;
use reqwest::header::{AUTHORIZATION, HeaderMap, RETRY_AFTER};
use tracing::{Instrument, debug_span, warn};

use crate::error::{Error, Result};
use crate::llm::client::LlmClient;
use crate::llm::config::{ApiKey, LlmConfig};
use crate::llm::message::{ChatRequest, Completion, FinishReason, ResponseFormat, Role, TokenUsage};

/// Maximum length in characters of the provider message kept in [`Error::Http::message`]; the whole body stays in
/// [`Error::Http::body`].
const MAX_MESSAGE_CHARS: usize = 2000;

/// A chat client for one OpenAI-compatible server.
///
/// It sends each request once: wrap it in [`RetryingClient`](crate::llm::RetryingClient)
/// (or build the full stack with [`ClientBuilder`](crate::llm::ClientBuilder)) for
/// retries. `async-openai`'s own retry layer is replaced by a plain transport, so the
/// retry layer of this crate is the only one that resends.
///
/// When a server rejects `response_format` with a 400 or 422 whose body mentions
/// `response_format` or `json`, the client resends the request once without it and
/// skips it for that model from then on.
///
/// # Example
///
/// ```no_run
/// use optimizers::llm::{ChatRequest, LlmClient, LlmConfig, Message, OpenAiClient};
///
/// # async fn run() -> optimizers::Result<()> {
/// let client = OpenAiClient::new(&LlmConfig::from_env()?)?;
/// let completion = client.complete(&ChatRequest::new(vec![Message::user("Hi")])).await?;
/// println!("{}", completion.text);
/// # Ok(())
/// # }
/// ```
pub struct OpenAiClient {
    client: async_openai::Client<OpenAIConfig>,
    api_key: ApiKey,
    model: String,
    timeout: Duration,
    models_without_json_mode: Mutex<HashSet<String>>,
}

impl std::fmt::Debug for OpenAiClient {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("OpenAiClient")
            .field("model", &self.model)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl OpenAiClient {
    /// Creates a client for the server, key and default model in `config`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSetting`] when the HTTP client cannot be built (for example when
    /// no TLS backend can be loaded).
    pub fn new(config: &LlmConfig) -> Result<Self> {
        let http =
            reqwest::Client::builder().timeout(config.timeout).build().map_err(|error| Error::InvalidSetting {
                name: "http client".to_owned(),
                value: config.base_url.clone(),
                reason: format!("the HTTP client could not be built: {error}"),
            })?;

        let openai_config = OpenAIConfig::new()
            .with_api_base(config.base_url.trim_end_matches('/'))
            .with_api_key(config.api_key.expose());
        let client =
            async_openai::Client::build(http.clone(), openai_config).with_http_service(PlainTransport { http });

        Ok(Self {
            client,
            api_key: config.api_key.clone(),
            model: config.model.clone(),
            timeout: config.timeout,
            models_without_json_mode: Mutex::new(HashSet::new()),
        })
    }

    /// Returns whether JSON mode has been switched off for `model` after a server
    /// rejected it.
    pub fn json_mode_disabled(&self, model: &str) -> bool {
        self.models_without_json_mode.lock().contains(model)
    }

    async fn send(&self, request: &ChatRequest, model: &str, json_mode: bool) -> Result<Completion> {
        let body = to_openai_request(request, model, json_mode)?;
        let response = self
            .client
            .chat()
            .create_byot::<_, ChatResponse>(body)
            .instrument(debug_span!("llm.http", model, json_mode))
            .await
            .map_err(|error| redact_key(map_openai_error(error, self.timeout), &self.api_key))?;
        from_openai_response(response, model)
    }
}

#[async_trait]
impl LlmClient for OpenAiClient {
    fn default_model(&self) -> &str {
        &self.model
    }

    async fn complete(&self, request: &ChatRequest) -> Result<Completion> {
        let model = request.model_or(&self.model);
        let json_mode = request.response_format.is_json() && !self.json_mode_disabled(model);

        match self.send(request, model, json_mode).await {
            Err(error) if json_mode && rejects_json_mode(&error) => {
                warn!(
                    model,
                    status = error.http_status(),
                    "server rejected response_format json_object; resending without it and \
                     skipping it for this model from now on"
                );
                self.models_without_json_mode.lock().insert(model.to_owned());
                self.send(request, model, false).await
            }
            outcome => outcome,
        }
    }
}

fn rejects_json_mode(error: &Error) -> bool {
    let Error::Http { status, body, .. } = error else {
        return false;
    };
    let body = body.to_lowercase();
    matches!(status, 400 | 422) && (body.contains("response_format") || body.contains("json"))
}

/// The `response_format` field for a JSON reply.
fn to_openai_format(format: &ResponseFormat) -> Result<Option<OpenAiResponseFormat>> {
    match format {
        ResponseFormat::Text => Ok(None),
        ResponseFormat::JsonObject => Ok(Some(OpenAiResponseFormat::JsonObject)),
        ResponseFormat::JsonSchema { name, schema } => {
            let schema = serde_json::from_str(schema).map_err(|error| Error::InvalidRequest {
                reason: format!("the JSON Schema `{name}` of the response format is not valid JSON: {error}"),
            })?;
            let json_schema =
                ResponseFormatJsonSchema { name: name.clone(), schema, ..ResponseFormatJsonSchema::default() };
            Ok(Some(OpenAiResponseFormat::JsonSchema { json_schema }))
        }
    }
}

fn to_openai_request(request: &ChatRequest, model: &str, json_mode: bool) -> Result<CreateChatCompletionRequest> {
    if request.messages.is_empty() {
        return Err(Error::InvalidRequest {
            reason: "the request has no messages; add at least one user message".to_owned(),
        });
    }

    let messages = request
        .messages
        .iter()
        .map(|message| -> ChatCompletionRequestMessage {
            let content = message.content.clone();
            match message.role {
                Role::System => ChatCompletionRequestSystemMessage::from(
                    async_openai::types::chat::ChatCompletionRequestSystemMessageContent::from(content),
                )
                .into(),
                Role::User => ChatCompletionRequestUserMessage::from(
                    async_openai::types::chat::ChatCompletionRequestUserMessageContent::from(content),
                )
                .into(),
                Role::Assistant => ChatCompletionRequestAssistantMessage::from(
                    async_openai::types::chat::ChatCompletionRequestAssistantMessageContent::from(content),
                )
                .into(),
            }
        })
        .collect();

    // `max_tokens` and `seed` are deprecated in OpenAI's schema, but `max_tokens` is the
    // field that llama.cpp, vLLM and Ollama read, and `seed` has no replacement.
    // NOTE: OpenAI's reasoning models reject `max_tokens` and expect
    // `max_completion_tokens`; this client does not send the latter.
    #[allow(deprecated)]
    let body = CreateChatCompletionRequest {
        model: model.to_owned(),
        messages,
        temperature: request.temperature,
        max_tokens: request.max_tokens,
        seed: request.seed,
        response_format: if json_mode { to_openai_format(&request.response_format)? } else { None },
        ..CreateChatCompletionRequest::default()
    };
    Ok(body)
}

/// The fields of a chat completion that the client reads. `async-openai`'s own type also
/// requires `id`, `object`, `created` and `model`, which some OpenAI-compatible servers
/// leave out.
#[derive(Debug, serde::Deserialize)]
struct ChatResponse {
    choices: Vec<ChatChoice>,
    #[serde(default)]
    usage: Option<ChatUsage>,
}

#[derive(Debug, serde::Deserialize)]
struct ChatChoice {
    message: ChatChoiceMessage,
    /// Kept as text, because some servers send reasons outside OpenAI's list.
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
struct ChatChoiceMessage {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
struct ChatUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
}

fn from_openai_response(response: ChatResponse, model: &str) -> Result<Completion> {
    let usage = response
        .usage
        .as_ref()
        .map(|usage| TokenUsage { prompt_tokens: usage.prompt_tokens, completion_tokens: usage.completion_tokens })
        .unwrap_or_default();

    let Some(choice) = response.choices.into_iter().next() else {
        return Err(Error::InvalidResponse { reason: "the completion has no choices".to_owned(), raw: String::new() });
    };

    let finish_reason = match choice.finish_reason.as_deref() {
        Some("stop") => FinishReason::Stop,
        Some("length") => FinishReason::Length,
        Some("content_filter") => FinishReason::ContentFilter,
        Some("tool_calls" | "function_call") => FinishReason::ToolCalls,
        _ => FinishReason::Unknown,
    };
    let text = choice.message.content.or(choice.message.refusal).unwrap_or_default();

    Ok(Completion { model: model.to_owned(), text, finish_reason, usage, cost_usd: 0.0, cached: false })
}

/// Replaces the API key in the text of `error` with `<redacted>`, because some proxies
/// echo request headers in their error bodies and errors end up in logs.
fn redact_key(error: Error, api_key: &ApiKey) -> Error {
    let key = api_key.expose();
    if key.is_empty() {
        return error;
    }
    let redact = |text: String| text.replace(key, "<redacted>");
    match error {
        Error::Http { status, message, body, retry_after } => {
            Error::Http { status, message: redact(message), body: redact(body), retry_after }
        }
        Error::InvalidResponse { reason, raw } => Error::InvalidResponse { reason: redact(reason), raw: redact(raw) },
        Error::Connection { reason } => Error::Connection { reason: redact(reason) },
        other => other,
    }
}

fn map_openai_error(error: OpenAIError, timeout: Duration) -> Error {
    match error {
        OpenAIError::Boxed(boxed) => match boxed.downcast::<HttpStatusError>() {
            Ok(status_error) => status_error.into_error(),
            Err(other) => Error::Connection { reason: error_chain(other.as_ref()) },
        },
        OpenAIError::Reqwest(error) => map_transport_error(&error, timeout),
        OpenAIError::JSONDeserialize(error, raw) => {
            Error::InvalidResponse { reason: format!("the body is not a chat completion ({error})"), raw }
        }
        OpenAIError::ApiError(api_error) => Error::Http {
            status: api_error.status_code.as_u16(),
            message: api_error.api_error.message.clone(),
            body: api_error.api_error.to_string(),
            retry_after: None,
        },
        OpenAIError::InvalidArgument(reason) => Error::InvalidRequest { reason },
        other => Error::Connection { reason: other.to_string() },
    }
}

fn map_transport_error(error: &reqwest::Error, timeout: Duration) -> Error {
    if error.is_timeout() { Error::Timeout { timeout } } else { Error::Connection { reason: error_chain(error) } }
}

/// Joins an error and its sources, because reqwest's top-level message ("error sending
/// request") hides the cause.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A non-success response, read in the transport so that the status, the
/// `Retry-After` header and the raw body survive. `async-openai` 0.43 drops the
/// header, and for a non-JSON 4xx body it also drops the status.
#[derive(Debug)]
struct HttpStatusError {
    status: u16,
    retry_after: Option<Duration>,
    body: String,
}

impl std::fmt::Display for HttpStatusError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "http status {}", self.status)
    }
}

impl std::error::Error for HttpStatusError {}

impl HttpStatusError {
    fn into_error(self) -> Error {
        Error::Http {
            status: self.status,
            message: provider_message(&self.body),
            body: self.body,
            retry_after: self.retry_after,
        }
    }
}

/// Extracts the provider's message from an error body: OpenAI's
/// `{"error": {"message": ...}}`, the `{"error": "..."}` of some local servers, a
/// top-level `message`, or else the raw text.
fn provider_message(body: &str) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let from_json = parsed.as_ref().and_then(|value| {
        value
            .pointer("/error/message")
            .or_else(|| value.get("error"))
            .or_else(|| value.get("message"))
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    });
    let message = from_json.unwrap_or_else(|| body.trim().to_owned());
    if message.chars().count() > MAX_MESSAGE_CHARS {
        let mut shortened: String = message.chars().take(MAX_MESSAGE_CHARS).collect();
        shortened.push_str("...");
        shortened
    } else {
        message
    }
}

/// Reads `Retry-After` in its seconds form. The HTTP-date form is ignored, so the
/// retry layer falls back to its own backoff for it.
fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?;
    let seconds: f64 = text.trim().parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds))
}

type TransportFuture = Pin<Box<dyn Future<Output = std::result::Result<reqwest::Response, OpenAIError>> + Send>>;

/// The transport under `async-openai`: one attempt, no retry, and non-success statuses
/// turned into [`HttpStatusError`].
#[derive(Clone, Debug)]
struct PlainTransport {
    http: reqwest::Client,
}

impl tower::Service<HttpRequestFactory> for PlainTransport {
    type Response = reqwest::Response;
    type Error = OpenAIError;
    type Future = TransportFuture;

    fn poll_ready(&mut self, _context: &mut Context<'_>) -> Poll<std::result::Result<(), OpenAIError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, factory: HttpRequestFactory) -> Self::Future {
        let http = self.http.clone();
        Box::pin(async move {
            let mut request = factory.build().await?;
            // A sensitive header value is redacted from `Debug` output, so the key
            // cannot reach a log through a printed request.
            if let Some(value) = request.headers_mut().get_mut(AUTHORIZATION) {
                value.set_sensitive(true);
            }

            let response = http.execute(request).await.map_err(OpenAIError::Reqwest)?;
            if response.status().is_success() {
                return Ok(response);
            }

            let status = response.status().as_u16();
            let retry_after = parse_retry_after(response.headers());
            let body = response.text().await.map_err(OpenAIError::Reqwest)?;
            Err(OpenAIError::Boxed(Box::new(HttpStatusError { status, retry_after, body })))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_message_forms() {
        let cases = [
            (r#"{"error":{"message":"bad key","type":"auth"}}"#, "bad key"),
            (r#"{"error":"model not loaded"}"#, "model not loaded"),
            (r#"{"message":"slow down"}"#, "slow down"),
            ("<html>gateway</html>\n", "<html>gateway</html>"),
        ];

        for (body, expected) in cases {
            assert_eq!(provider_message(body), expected, "body {body}");
        }
    }

    #[test]
    fn retry_after_seconds_only() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, "2".parse().expect("header value"));
        assert_eq!(parse_retry_after(&headers), Some(Duration::from_secs(2)));

        headers.insert(RETRY_AFTER, "0.5".parse().expect("header value"));
        assert_eq!(parse_retry_after(&headers), Some(Duration::from_millis(500)));

        headers.insert(RETRY_AFTER, "Wed, 21 Oct 2015 07:28:00 GMT".parse().expect("header value"));
        assert_eq!(parse_retry_after(&headers), None);

        headers.insert(RETRY_AFTER, "-3".parse().expect("header value"));
        assert_eq!(parse_retry_after(&headers), None);
    }

    #[test]
    fn empty_request_is_invalid() {
        let error = to_openai_request(&ChatRequest::default(), "m", false).expect_err("empty");

        assert!(matches!(error, Error::InvalidRequest { .. }), "{error}");
    }

    #[test]
    fn request_carries_settings() {
        let request = ChatRequest::new(vec![
            crate::llm::Message::system("s"),
            crate::llm::Message::user("u"),
            crate::llm::Message::assistant("a"),
        ])
        .temperature(0.5)
        .max_tokens(7)
        .seed(3)
        .rollout(9)
        .response_format(ResponseFormat::JsonObject);

        let body = to_openai_request(&request, "m", true).expect("valid request");
        let json = serde_json::to_value(&body).expect("serializable");

        assert_eq!(json["model"], "m");
        assert_eq!(json["messages"][0]["role"], "system");
        assert_eq!(json["messages"][1]["role"], "user");
        assert_eq!(json["messages"][2]["role"], "assistant");
        assert_eq!(json["temperature"], 0.5);
        assert_eq!(json["max_tokens"], 7);
        assert_eq!(json["seed"], 3);
        assert_eq!(json["response_format"]["type"], "json_object");
        assert!(json.get("rollout").is_none(), "rollout must stay client-side");
    }

    #[test]
    fn json_schema_format_is_sent_as_json_schema() {
        let schema = r#"{"type": "object", "required": ["x"]}"#.to_string();
        let format = ResponseFormat::JsonSchema { name: "reply".to_string(), schema };
        let request = ChatRequest::new(vec![crate::llm::Message::user("u")]).response_format(format);

        let json = serde_json::to_value(to_openai_request(&request, "m", true).expect("valid request")).expect("json");
        let plain =
            serde_json::to_value(to_openai_request(&request, "m", false).expect("valid request")).expect("json");

        assert_eq!(json["response_format"]["type"], "json_schema");
        assert_eq!(json["response_format"]["json_schema"]["name"], "reply");
        assert_eq!(json["response_format"]["json_schema"]["schema"]["required"][0], "x");
        assert!(plain.get("response_format").is_none_or(serde_json::Value::is_null));
    }

    #[test]
    fn invalid_json_schema_is_an_error() {
        let format = ResponseFormat::JsonSchema { name: "reply".to_string(), schema: "{not json".to_string() };
        let request = ChatRequest::new(vec![crate::llm::Message::user("u")]).response_format(format);

        let error = to_openai_request(&request, "m", true).expect_err("invalid schema");

        assert!(error.to_string().contains("not valid JSON"), "{error}");
    }
}
