//! OptoPrimeMulti: several OptoPrime candidates sampled concurrently at a range of
//! temperatures, then one chosen by a [`Selector`].

use std::fmt;
use std::sync::Arc;

use futures::future::join_all;
use trace_core::{BoxFuture, Node, Optimizer, Projection, Proposal, StepError, StepReport};

use crate::error::{Error, Result};
use crate::llm::LlmClient;
use crate::optoprime::{OptoPrime, OptoPrimeConfig, to_proposal};
use crate::reply;
use crate::step_log;
use crate::templates::Templates;

/// A user's score of a candidate proposal; higher is better.
pub type ScoreFn = Arc<dyn Fn(Proposal) -> BoxFuture<'static, f64> + Send + Sync>;

/// The rule by which OptoPrimeMulti picks one of its candidates.
#[derive(Clone)]
pub enum Selector {
    /// The last candidate that succeeded, the one sampled at the highest temperature when
    /// temperatures are in ascending order.
    Last,
    /// The candidate with the highest score, each scored in turn by the function; ties and
    /// NaN scores go to the earlier candidate.
    Best(ScoreFn),
    /// The set of updates proposed most often, compared by rendered values; ties go to the
    /// earlier candidate.
    Majority,
}

impl fmt::Debug for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Selector::Last => "Last",
            Selector::Best(_) => "Best",
            Selector::Majority => "Majority",
        })
    }
}

/// The name in logs and step reports.
const NAME: &str = "OptoPrimeMulti";

/// OptoPrime with several candidates per step.
///
/// Every candidate gets the same prompt at its own temperature and rollout number (so a
/// response cache keeps them apart), and each is retried on its own when its reply cannot
/// be used. A step fails when its prompt cannot be built or when every candidate fails.
#[derive(Debug)]
pub struct OptoPrimeMulti {
    inner: OptoPrime,
    temperatures: Vec<f32>,
    selector: Selector,
    log: Vec<StepReport>,
}

impl OptoPrimeMulti {
    /// Creates an optimizer of `parameters` with candidates at temperatures 0.0, 0.5 and 1.0,
    /// chosen by majority.
    pub fn new(parameters: Vec<Node>, client: Arc<dyn LlmClient>) -> OptoPrimeMulti {
        OptoPrimeMulti {
            inner: OptoPrime::new(parameters, client),
            temperatures: vec![0.0, 0.5, 1.0],
            selector: Selector::Majority,
            log: Vec::new(),
        }
    }

    /// Replaces the OptoPrime settings; their `temperature` is ignored in favour of
    /// [`OptoPrimeMulti::with_temperatures`].
    #[must_use]
    pub fn with_config(mut self, config: OptoPrimeConfig) -> OptoPrimeMulti {
        self.inner = self.inner.with_config(config);
        self
    }

    /// Replaces the prompt templates.
    #[must_use]
    pub fn with_templates(mut self, templates: Templates) -> OptoPrimeMulti {
        self.inner = self.inner.with_templates(templates);
        self
    }

    /// Sets one candidate per temperature. An empty list keeps the current one.
    #[must_use]
    pub fn with_temperatures(mut self, temperatures: Vec<f32>) -> OptoPrimeMulti {
        if !temperatures.is_empty() {
            self.temperatures = temperatures;
        }
        self
    }

    /// Sets how the candidate is chosen.
    #[must_use]
    pub fn with_selector(mut self, selector: Selector) -> OptoPrimeMulti {
        self.selector = selector;
        self
    }

    /// Adds a projection that every new value of `parameter` passes through.
    pub fn add_projection(&mut self, parameter: &Node, projection: Arc<dyn Projection>) {
        self.inner.add_projection(parameter, projection);
    }

    async fn propose_inner(&mut self) -> Result<Proposal> {
        let prepared = self.inner.prepare()?;
        let client = self.inner.client().clone();
        let max_retries = self.inner.config().max_retries;
        let templates = self.inner.templates().clone();

        let asks = self.temperatures.iter().enumerate().map(|(index, &temperature)| {
            let rollout = u32::try_from(index).unwrap_or(u32::MAX);
            let request = prepared.request.clone().temperature(temperature).rollout(rollout);
            reply::ask_for_suggestion(
                client.as_ref(),
                NAME,
                request,
                &prepared.resolver,
                max_retries,
                &templates,
                "optoprime/retry.tera",
            )
        });
        let outcomes = join_all(asks).await;

        let mut llm_calls = 0;
        let mut candidates = Vec::new();
        let mut failures = Vec::new();
        for (index, outcome) in outcomes.into_iter().enumerate() {
            match outcome {
                Ok(repaired) => {
                    llm_calls += repaired.calls;
                    candidates.push((index, to_proposal(repaired.value, repaired.calls, Vec::new())));
                }
                Err(error) => {
                    llm_calls += error.llm_calls();
                    failures.push(format!("candidate {index}: {error}"));
                }
            }
        }
        if candidates.is_empty() {
            return Err(Error::NoCandidate {
                optimizer: NAME.to_string(),
                count: self.temperatures.len(),
                reasons: failures,
                llm_calls,
            });
        }

        let position = self.select(&candidates).await;
        let count = candidates.len();
        let (index, mut chosen) = candidates.swap_remove(position);
        let temperature = self.temperatures[index];
        let mut warnings = prepared.warnings;
        warnings.append(&mut chosen.warnings);
        warnings.extend(failures);
        warnings.push(format!("chose candidate {index} (temperature {temperature}) of {count} by {:?}", self.selector));
        chosen.warnings = warnings;
        chosen.llm_calls = llm_calls;
        Ok(chosen)
    }

    /// Returns the position in `candidates` of the chosen one.
    async fn select(&self, candidates: &[(usize, Proposal)]) -> usize {
        match &self.selector {
            Selector::Last => candidates.len() - 1,
            Selector::Majority => majority(candidates.iter().map(|(_, proposal)| proposal)),
            Selector::Best(score) => {
                let mut best = (0, f64::NEG_INFINITY);
                for (position, (_, proposal)) in candidates.iter().enumerate() {
                    let value = score(proposal.clone()).await;
                    if value > best.1 {
                        best = (position, value);
                    }
                }
                best.0
            }
        }
    }
}

/// Returns the position of the first proposal whose updates occur most often.
fn majority<'a>(proposals: impl Iterator<Item = &'a Proposal>) -> usize {
    let signatures: Vec<String> = proposals.map(signature).collect();
    let mut best = (0, 0);
    for (position, signature) in signatures.iter().enumerate() {
        let votes = signatures.iter().filter(|other| *other == signature).count();
        if votes > best.1 {
            best = (position, votes);
        }
    }
    best.0
}

/// Renders the updates of a proposal as one comparable text.
fn signature(proposal: &Proposal) -> String {
    if proposal.terminated {
        return reply::TERMINATE.to_string();
    }
    let mut pairs: Vec<String> =
        proposal.updates.iter().map(|(node, value)| value.to_json().to_string() + "@" + node.key()).collect();
    pairs.sort();
    pairs.join("\n")
}

impl Optimizer for OptoPrimeMulti {
    fn name(&self) -> &str {
        NAME
    }

    fn parameters(&self) -> &[Node] {
        self.inner.parameter_set().nodes()
    }

    fn propose(&mut self) -> BoxFuture<'_, Result<Proposal, StepError>> {
        Box::pin(async move { self.propose_inner().await.map_err(StepError::from) })
    }

    fn apply(&mut self, proposal: &Proposal) -> StepReport {
        step_log::apply_and_record(self.inner.parameter_set(), &mut self.log, NAME, proposal)
    }

    /// Proposes and applies new values; a failed step is recorded in the step log and
    /// returned as an [`Error`].
    fn step(&mut self) -> BoxFuture<'_, Result<StepReport, StepError>> {
        Box::pin(async move {
            match self.propose_inner().await {
                Ok(proposal) => Ok(self.apply(&proposal)),
                Err(error) => {
                    step_log::record_failure(&mut self.log, NAME, &error);
                    Err(StepError::from(error))
                }
            }
        })
    }

    fn step_log(&self) -> &[StepReport] {
        &self.log
    }

    fn checkpoint_state(&self) -> serde_json::Value {
        self.inner.checkpoint_state()
    }

    fn restore_checkpoint_state(&mut self, state: &serde_json::Value) -> Result<(), String> {
        self.inner.restore_checkpoint_state(state)
    }
}

#[cfg(test)]
mod tests {
    use trace_core::Value;

    use super::*;

    fn proposal(node: &Node, value: i64) -> Proposal {
        Proposal { updates: vec![(node.clone(), Value::Int(value))], ..Proposal::default() }
    }

    #[test]
    fn majority_picks_most_frequent_and_first_on_ties() {
        let x = Node::parameter("x", 0);

        assert_eq!(majority([proposal(&x, 1), proposal(&x, 2), proposal(&x, 2)].iter()), 1);
        assert_eq!(majority([proposal(&x, 1), proposal(&x, 2)].iter()), 0);
        let terminated = Proposal { terminated: true, ..Proposal::default() };
        assert_eq!(majority([proposal(&x, 1), terminated.clone(), terminated].iter()), 1);
    }

    #[test]
    fn signature_tells_int_from_text() {
        let x = Node::parameter("x", 0);
        let as_text = Proposal { updates: vec![(x.clone(), Value::from("1"))], ..Proposal::default() };

        assert_ne!(signature(&proposal(&x, 1)), signature(&as_text));
    }
}
