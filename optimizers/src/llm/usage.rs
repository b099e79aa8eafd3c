//! Token and cost accounting per model, a price table and a hard budget.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::llm::client::LlmClient;
use crate::llm::message::{ChatRequest, Completion, TokenUsage};

/// The price of a model in US dollars per million tokens.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelPrice {
    /// Dollars per million prompt tokens.
    pub input_per_million: f64,
    /// Dollars per million completion tokens.
    pub output_per_million: f64,
}

impl ModelPrice {
    /// Returns the price of `usage` in dollars.
    pub fn cost(&self, usage: TokenUsage) -> f64 {
        (usage.prompt_tokens as f64 * self.input_per_million + usage.completion_tokens as f64 * self.output_per_million)
            / 1_000_000.0
    }
}

/// Model prices, looked up by exact name and then by the longest name that is a prefix
/// of the model (so `gpt-4o-mini-2024-07-18` uses the `gpt-4o-mini` entry).
///
/// # Example
///
/// ```
/// use optimizers::llm::{ModelPrice, PriceTable};
///
/// let mut prices = PriceTable::default();
/// prices.set("my-local-model", ModelPrice { input_per_million: 0.0, output_per_million: 0.0 });
/// assert!(prices.get("gpt-4o-mini-2024-07-18").is_some());
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PriceTable {
    prices: HashMap<String, ModelPrice>,
}

impl Default for PriceTable {
    /// OpenAI's list prices in dollars per million tokens for standard (non-batch)
    /// requests, as of 2025. Prices change, so check them against OpenAI's pricing page
    /// before relying on a dollar budget, and override them with [`PriceTable::set`].
    fn default() -> Self {
        let entries = [
            ("gpt-4o", 2.50, 10.00),
            ("gpt-4o-mini", 0.15, 0.60),
            ("gpt-4.1", 2.00, 8.00),
            ("gpt-4.1-mini", 0.40, 1.60),
            ("gpt-4.1-nano", 0.10, 0.40),
            ("gpt-3.5-turbo", 0.50, 1.50),
        ];
        let prices = entries
            .into_iter()
            .map(|(model, input, output)| {
                (model.to_owned(), ModelPrice { input_per_million: input, output_per_million: output })
            })
            .collect();
        Self { prices }
    }
}

impl PriceTable {
    /// Creates a table without any price.
    pub fn empty() -> Self {
        Self { prices: HashMap::new() }
    }

    /// Sets or replaces the price of `model`.
    pub fn set(&mut self, model: impl Into<String>, price: ModelPrice) {
        self.prices.insert(model.into(), price);
    }

    /// Returns the price of `model`: its own entry, or else the entry with the longest
    /// name that `model` starts with.
    pub fn get(&self, model: &str) -> Option<ModelPrice> {
        if let Some(price) = self.prices.get(model) {
            return Some(*price);
        }
        self.prices
            .iter()
            .filter(|(name, _)| model.starts_with(name.as_str()))
            .max_by_key(|(name, _)| name.len())
            .map(|(_, price)| *price)
    }
}

/// A hard limit on spending; `None` leaves a resource unlimited.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    /// Calls passed to the server, failed ones included. A call counts once however
    /// many retries it needed, and cache hits do not count.
    pub max_calls: Option<u64>,
    /// Prompt plus completion tokens.
    pub max_tokens: Option<u64>,
    /// US dollars, priced with the [`PriceTable`].
    pub max_dollars: Option<f64>,
}

/// A resource that a [`Budget`] limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BudgetResource {
    /// Requests sent.
    Calls,
    /// Prompt plus completion tokens.
    Tokens,
    /// US dollars.
    Dollars,
}

impl fmt::Display for BudgetResource {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            BudgetResource::Calls => "calls",
            BudgetResource::Tokens => "tokens",
            BudgetResource::Dollars => "dollars",
        })
    }
}

/// Usage of one model.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelUsage {
    /// Requests completed by the server.
    pub calls: u64,
    /// Requests served by the cache or a replay file, at no cost.
    pub cached_calls: u64,
    /// Requests that failed after being sent.
    pub failed_calls: u64,
    /// Prompt tokens of completed requests.
    pub prompt_tokens: u64,
    /// Completion tokens of completed requests.
    pub completion_tokens: u64,
    /// Cost of completed requests in US dollars.
    pub cost_usd: f64,
}

impl ModelUsage {
    /// Returns prompt plus completion tokens.
    pub fn total_tokens(&self) -> u64 {
        self.prompt_tokens + self.completion_tokens
    }

    fn add(&mut self, other: &ModelUsage) {
        self.calls += other.calls;
        self.cached_calls += other.cached_calls;
        self.failed_calls += other.failed_calls;
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
        self.cost_usd += other.cost_usd;
    }
}

#[derive(Debug, Default)]
struct TrackerState {
    per_model: BTreeMap<String, ModelUsage>,
    reserved_calls: u64,
    reserved_tokens: u64,
    reserved_dollars: f64,
}

/// Shared accounting of calls, tokens and dollars per model, and the budget check.
///
/// A call first reserves its estimate (one call, its estimated prompt tokens plus
/// `max_tokens`, and their price). The reservation is refused with
/// [`Error::BudgetExhausted`] when spent plus reserved plus the estimate would pass a
/// limit, so concurrent calls cannot overshoot together. When the reply arrives the
/// reservation is replaced by the real counts.
///
/// NOTE: without `max_tokens` the estimate counts only the prompt, so the token and
/// dollar limits can be passed by the completion of the last admitted call.
#[derive(Debug)]
pub struct UsageTracker {
    prices: PriceTable,
    budget: Budget,
    state: Mutex<TrackerState>,
}

impl UsageTracker {
    /// Creates a tracker with the given prices and budget.
    pub fn new(prices: PriceTable, budget: Budget) -> Self {
        Self { prices, budget, state: Mutex::new(TrackerState::default()) }
    }

    /// Returns the budget.
    pub fn budget(&self) -> Budget {
        self.budget
    }

    /// Returns the price table.
    pub fn prices(&self) -> &PriceTable {
        &self.prices
    }

    /// Adds usage from an earlier session (a resumed run's checkpoint), so that the budget
    /// counts what that session spent.
    pub fn restore(&self, previous: &BTreeMap<String, ModelUsage>) {
        let mut state = self.state.lock();
        for (model, usage) in previous {
            state.per_model.entry(model.clone()).or_default().add(usage);
        }
    }

    /// Returns the usage of each model seen so far.
    pub fn per_model(&self) -> BTreeMap<String, ModelUsage> {
        self.state.lock().per_model.clone()
    }

    /// Returns the usage summed over all models.
    pub fn total(&self) -> ModelUsage {
        let state = self.state.lock();
        let mut total = ModelUsage::default();
        for usage in state.per_model.values() {
            total.add(usage);
        }
        total
    }

    /// Counts a request served from the cache.
    pub fn record_cached(&self, model: &str) {
        let mut state = self.state.lock();
        state.per_model.entry(model.to_owned()).or_default().cached_calls += 1;
    }

    /// Reserves the estimated cost of `request` against the budget.
    ///
    /// # Errors
    ///
    /// [`Error::BudgetExhausted`] when the call would pass a limit, and
    /// [`Error::UnknownPrice`] when a dollar limit is set and `model` has no price.
    pub fn reserve(&self, request: &ChatRequest, model: &str) -> Result<Reservation<'_>> {
        let estimated_tokens = request.estimated_prompt_tokens() + u64::from(request.max_tokens.unwrap_or(0));
        let estimated_dollars = match (self.budget.max_dollars, self.prices.get(model)) {
            (_, Some(price)) => price.cost(TokenUsage {
                prompt_tokens: request.estimated_prompt_tokens(),
                completion_tokens: u64::from(request.max_tokens.unwrap_or(0)),
            }),
            (Some(_), None) => {
                return Err(Error::UnknownPrice { model: model.to_owned() });
            }
            (None, None) => 0.0,
        };

        let mut state = self.state.lock();
        let mut spent = ModelUsage::default();
        for usage in state.per_model.values() {
            spent.add(usage);
        }

        check_limit(
            BudgetResource::Calls,
            (spent.calls + spent.failed_calls + state.reserved_calls) as f64,
            1.0,
            self.budget.max_calls.map(|limit| limit as f64),
        )?;
        check_limit(
            BudgetResource::Tokens,
            (spent.total_tokens() + state.reserved_tokens) as f64,
            estimated_tokens as f64,
            self.budget.max_tokens.map(|limit| limit as f64),
        )?;
        check_limit(
            BudgetResource::Dollars,
            spent.cost_usd + state.reserved_dollars,
            estimated_dollars,
            self.budget.max_dollars,
        )?;

        state.reserved_calls += 1;
        state.reserved_tokens += estimated_tokens;
        state.reserved_dollars += estimated_dollars;
        Ok(Reservation {
            tracker: self,
            model: model.to_owned(),
            tokens: estimated_tokens,
            dollars: estimated_dollars,
            open: true,
        })
    }

    fn release(&self, state: &mut TrackerState, tokens: u64, dollars: f64) {
        state.reserved_calls = state.reserved_calls.saturating_sub(1);
        state.reserved_tokens = state.reserved_tokens.saturating_sub(tokens);
        state.reserved_dollars = (state.reserved_dollars - dollars).max(0.0);
    }
}

fn check_limit(resource: BudgetResource, used: f64, requested: f64, limit: Option<f64>) -> Result<()> {
    let Some(limit) = limit else {
        return Ok(());
    };
    if used >= limit || used + requested > limit {
        return Err(Error::BudgetExhausted { resource, used, requested, limit });
    }
    Ok(())
}

/// A budget reservation for one call in flight. Dropping it without
/// [`Reservation::commit`] or [`Reservation::fail`] (a cancelled call) releases it.
#[derive(Debug)]
pub struct Reservation<'a> {
    tracker: &'a UsageTracker,
    model: String,
    tokens: u64,
    dollars: f64,
    open: bool,
}

impl Reservation<'_> {
    /// Replaces the reservation with the real usage of `completion` and returns its cost
    /// in dollars (zero for a cached completion or a model without a price).
    pub fn commit(mut self, completion: &Completion) -> f64 {
        self.open = false;
        let tracker = self.tracker;
        let cost = if completion.cached {
            0.0
        } else {
            tracker.prices.get(&self.model).map_or(0.0, |price| price.cost(completion.usage))
        };

        let mut state = tracker.state.lock();
        tracker.release(&mut state, self.tokens, self.dollars);
        let usage = state.per_model.entry(self.model.clone()).or_default();
        if completion.cached {
            usage.cached_calls += 1;
        } else {
            usage.calls += 1;
            usage.prompt_tokens += completion.usage.prompt_tokens;
            usage.completion_tokens += completion.usage.completion_tokens;
            usage.cost_usd += cost;
        }
        cost
    }

    /// Releases the reservation of a call that failed and counts the failure.
    pub fn fail(mut self) {
        self.open = false;
        let tracker = self.tracker;
        let mut state = tracker.state.lock();
        tracker.release(&mut state, self.tokens, self.dollars);
        state.per_model.entry(self.model.clone()).or_default().failed_calls += 1;
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if self.open {
            let mut state = self.tracker.state.lock();
            self.tracker.release(&mut state, self.tokens, self.dollars);
        }
    }
}

/// A layer that checks the budget before each call, refusing it with
/// [`Error::BudgetExhausted`] without sending anything, and records the usage and cost
/// of each reply in a shared [`UsageTracker`]. It sets [`Completion::cost_usd`].
#[derive(Debug)]
pub struct MeteredClient {
    inner: Arc<dyn LlmClient>,
    tracker: Arc<UsageTracker>,
}

impl MeteredClient {
    /// Wraps `inner`, accounting in `tracker`.
    pub fn new(inner: Arc<dyn LlmClient>, tracker: Arc<UsageTracker>) -> Self {
        Self { inner, tracker }
    }

    /// Returns the tracker.
    pub fn tracker(&self) -> &Arc<UsageTracker> {
        &self.tracker
    }
}

#[async_trait]
impl LlmClient for MeteredClient {
    fn default_model(&self) -> &str {
        self.inner.default_model()
    }

    async fn complete(&self, request: &ChatRequest) -> Result<Completion> {
        let model = request.model_or(self.inner.default_model());
        let reservation = self.tracker.reserve(request, model)?;

        match self.inner.complete(request).await {
            Ok(mut completion) => {
                completion.cost_usd = reservation.commit(&completion);
                Ok(completion)
            }
            Err(error) => {
                reservation.fail();
                Err(error)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::message::Message;

    fn request() -> ChatRequest {
        ChatRequest::new(vec![Message::user("x".repeat(400))]).max_tokens(100)
    }

    fn completion(prompt_tokens: u64, completion_tokens: u64) -> Completion {
        Completion {
            usage: TokenUsage { prompt_tokens, completion_tokens },
            ..Completion::from_text("gpt-4o-mini", "ok")
        }
    }

    #[test]
    fn price_lookup_uses_longest_prefix() {
        let prices = PriceTable::default();

        let dated = prices.get("gpt-4o-mini-2024-07-18").expect("prefix match");
        let unknown = prices.get("llama-3");

        assert_eq!(dated.input_per_million, 0.15);
        assert_eq!(unknown, None);
    }

    #[test]
    fn cost_is_per_million_tokens() {
        let price = ModelPrice { input_per_million: 2.0, output_per_million: 8.0 };

        let cost = price.cost(TokenUsage { prompt_tokens: 500_000, completion_tokens: 250_000 });

        assert!((cost - 3.0).abs() < 1e-12, "{cost}");
    }

    #[test]
    fn call_limit_counts_reservations_in_flight() {
        let tracker = UsageTracker::new(PriceTable::default(), Budget { max_calls: Some(1), ..Budget::default() });

        let first = tracker.reserve(&request(), "gpt-4o-mini").expect("within budget");
        let second = tracker.reserve(&request(), "gpt-4o-mini");

        assert!(matches!(second, Err(Error::BudgetExhausted { resource: BudgetResource::Calls, .. })));
        drop(first);
        assert!(tracker.reserve(&request(), "gpt-4o-mini").is_ok(), "a dropped reservation is released");
    }

    #[test]
    fn token_limit_uses_estimate() {
        // 400 bytes -> 100 + 4 prompt tokens, plus max_tokens 100 = 204.
        let tracker = UsageTracker::new(PriceTable::default(), Budget { max_tokens: Some(300), ..Budget::default() });

        let reservation = tracker.reserve(&request(), "gpt-4o-mini").expect("204 <= 300");
        reservation.commit(&completion(104, 100));
        let refused = tracker.reserve(&request(), "gpt-4o-mini");

        assert!(matches!(
            refused,
            Err(Error::BudgetExhausted { resource: BudgetResource::Tokens, used, .. }) if used == 204.0
        ));
    }

    #[test]
    fn dollar_limit_needs_a_price() {
        let tracker = UsageTracker::new(PriceTable::empty(), Budget { max_dollars: Some(1.0), ..Budget::default() });

        let refused = tracker.reserve(&request(), "local-model");

        assert!(matches!(refused, Err(Error::UnknownPrice { model }) if model == "local-model"));
    }

    #[test]
    fn commit_records_cost_and_cached_calls() {
        let tracker = UsageTracker::new(PriceTable::default(), Budget::default());

        let cost = tracker.reserve(&request(), "gpt-4o-mini").expect("unlimited").commit(&completion(1_000_000, 0));
        tracker.record_cached("gpt-4o-mini");
        let total = tracker.total();

        assert!((cost - 0.15).abs() < 1e-12, "{cost}");
        assert_eq!(total.calls, 1);
        assert_eq!(total.cached_calls, 1);
        assert_eq!(total.prompt_tokens, 1_000_000);
    }
}
