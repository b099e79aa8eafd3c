//! Chat requests and completions, independent of any provider's wire format.

use serde::{Deserialize, Serialize};

/// The author of a chat message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions that frame the conversation.
    System,
    /// The user's turn.
    User,
    /// A previous model reply.
    Assistant,
}

/// One message of a chat conversation.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Message {
    /// The author.
    pub role: Role,
    /// The message text.
    pub content: String,
}

impl Message {
    /// Creates a system message.
    pub fn system(content: impl Into<String>) -> Self {
        Self { role: Role::System, content: content.into() }
    }

    /// Creates a user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self { role: Role::User, content: content.into() }
    }

    /// Creates an assistant message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self { role: Role::Assistant, content: content.into() }
    }
}

/// The format the model is asked to reply in.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseFormat {
    /// Free text.
    #[default]
    Text,
    /// A JSON object (OpenAI's `json_object` mode). Servers that reject it get the
    /// request again without it.
    JsonObject,
    /// A JSON object that follows a JSON Schema (OpenAI's `json_schema` mode, which
    /// llama.cpp's server turns into a grammar). Servers that reject it get the request
    /// again without it.
    JsonSchema {
        /// The schema's name: letters, digits, `_` and `-`, at most 64 characters.
        name: String,
        /// The schema as JSON text.
        schema: String,
    },
}

impl ResponseFormat {
    /// Whether the reply is asked to be JSON.
    pub fn is_json(&self) -> bool {
        !matches!(self, ResponseFormat::Text)
    }
}

/// A chat completion request: messages and sampling settings.
///
/// # Example
///
/// ```
/// use optimizers::llm::{ChatRequest, Message, ResponseFormat};
///
/// let request = ChatRequest::new(vec![
///     Message::system("You answer with one word."),
///     Message::user("Capital of France?"),
/// ])
/// .temperature(0.0)
/// .max_tokens(16)
/// .response_format(ResponseFormat::JsonObject);
/// assert_eq!(request.rollout, 0);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The model; `None` uses the client's default model.
    pub model: Option<String>,
    /// The conversation so far.
    pub messages: Vec<Message>,
    /// Sampling temperature; `None` leaves the server's default.
    pub temperature: Option<f32>,
    /// Upper bound on completion tokens, sent as `max_tokens`.
    pub max_tokens: Option<u32>,
    /// Sampling seed, for servers that support reproducible sampling.
    pub seed: Option<i64>,
    /// The reply format.
    pub response_format: ResponseFormat,
    /// The sample number of an otherwise identical request. It is never sent to the
    /// server. It only changes the cache key, so rollout 1 gets a fresh sample while
    /// rollout 0 stays cached.
    pub rollout: u32,
}

impl ChatRequest {
    /// Creates a request with the given messages and default settings.
    pub fn new(messages: Vec<Message>) -> Self {
        Self { messages, ..Self::default() }
    }

    /// Sets the model, overriding the client's default.
    #[must_use]
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }

    /// Sets the sampling temperature.
    #[must_use]
    pub fn temperature(mut self, temperature: f32) -> Self {
        self.temperature = Some(temperature);
        self
    }

    /// Sets the maximum number of completion tokens.
    #[must_use]
    pub fn max_tokens(mut self, max_tokens: u32) -> Self {
        self.max_tokens = Some(max_tokens);
        self
    }

    /// Sets the sampling seed.
    #[must_use]
    pub fn seed(mut self, seed: i64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Sets the reply format.
    #[must_use]
    pub fn response_format(mut self, format: ResponseFormat) -> Self {
        self.response_format = format;
        self
    }

    /// Sets the rollout number (see [`ChatRequest::rollout`]).
    #[must_use]
    pub fn rollout(mut self, rollout: u32) -> Self {
        self.rollout = rollout;
        self
    }

    /// Returns the request's model, or `default_model` when none is set.
    pub fn model_or<'a>(&'a self, default_model: &'a str) -> &'a str {
        self.model.as_deref().unwrap_or(default_model)
    }

    /// Estimates the prompt size in tokens as one token per four bytes of message
    /// text, plus four tokens of framing per message.
    ///
    /// The limiter and the budget use this before the server reports real counts.
    pub fn estimated_prompt_tokens(&self) -> u64 {
        self.messages.iter().map(|message| message.content.len() as u64 / 4 + 4).sum()
    }
}

/// The reason the model stopped generating.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// A natural end or a stop sequence.
    Stop,
    /// The `max_tokens` limit cut the reply short.
    Length,
    /// The provider's content filter removed output.
    ContentFilter,
    /// The model asked for a tool call.
    ToolCalls,
    /// The server reported no reason.
    Unknown,
}

/// Token counts of one completion, as reported by the server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenUsage {
    /// Tokens in the prompt.
    pub prompt_tokens: u64,
    /// Tokens in the reply.
    pub completion_tokens: u64,
}

impl TokenUsage {
    /// Returns prompt plus completion tokens.
    pub fn total(&self) -> u64 {
        self.prompt_tokens + self.completion_tokens
    }
}

/// The model's reply to a [`ChatRequest`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    /// The model that produced the reply, as named in the request.
    pub model: String,
    /// The reply text.
    pub text: String,
    /// The reason generation stopped.
    pub finish_reason: FinishReason,
    /// Token counts reported by the server when the reply was generated.
    pub usage: TokenUsage,
    /// The price of this call in US dollars: zero for a cache hit or a model without a
    /// price-table entry.
    pub cost_usd: f64,
    /// Whether the reply came from the disk cache or a replay file instead of the server.
    pub cached: bool,
}

impl Completion {
    /// Creates an uncached completion that stopped naturally, with no usage and no cost.
    ///
    /// Mostly useful for scripted mocks.
    pub fn from_text(model: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            model: model.into(),
            text: text.into(),
            finish_reason: FinishReason::Stop,
            usage: TokenUsage::default(),
            cost_usd: 0.0,
            cached: false,
        }
    }
}
