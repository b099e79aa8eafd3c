//! Concurrent evaluation of an agent on a list of examples, with the feedback sent backward
//! for each one.

use futures::StreamExt;
use trace_core::{Feedback, Node};

use crate::Result;
use crate::agent::{Agent, Judgement};
use crate::task::{Example, Task};

/// The result of running the agent on one example.
#[derive(Clone, Debug)]
pub struct Evaluation {
    /// The example's id.
    pub example_id: String,
    /// The traced output.
    pub output: Node,
    /// The answer read from the output; empty when the output is an exception.
    pub answer: String,
    /// The metric's score, 0.0 to 1.0.
    pub score: f64,
    /// The feedback to send backward from the output.
    pub feedback: String,
}

impl Evaluation {
    /// The output with its feedback, ready for [`trace_core::backward`].
    pub fn seed(&self) -> (Node, Feedback) {
        (self.output.clone(), Feedback::Text(self.feedback.clone()))
    }
}

/// Runs `agent` on `examples` with at most `concurrency` examples in flight, and scores each
/// answer with the task's metric. Results keep the order of `examples`. `on_done` is called
/// once per finished example, for progress bars.
///
/// # Errors
///
/// The first error of [`Agent::forward`]: an endpoint that stays down or an exhausted
/// budget. Examples still in flight are dropped.
pub async fn evaluate(
    agent: &dyn Agent,
    task: &Task,
    examples: &[Example],
    concurrency: usize,
    on_done: &(dyn Fn() + Sync),
) -> Result<Vec<Evaluation>> {
    let runs = futures::stream::iter(examples.iter().enumerate().map(|(index, example)| async move {
        let output = agent.forward(example).await;
        on_done();
        output.map(|output| (index, score_one(agent, task, example, output)))
    }));
    let mut results: Vec<(usize, Evaluation)> = Vec::with_capacity(examples.len());
    let mut stream = runs.buffer_unordered(concurrency.max(1));
    while let Some(result) = stream.next().await {
        results.push(result?);
    }
    results.sort_by_key(|(index, _)| *index);
    Ok(results.into_iter().map(|(_, evaluation)| evaluation).collect())
}

fn score_one(agent: &dyn Agent, task: &Task, example: &Example, output: Node) -> Evaluation {
    if let Some(error) = output.error() {
        let feedback = format!("The agent raised an error, so it gave no answer. Error: {error}");
        return Evaluation { example_id: example.id.clone(), output, answer: String::new(), score: 0.0, feedback };
    }

    let answer = agent.answer(&output);
    if let Some(judgement) = agent.judge(&output, example) {
        let Judgement { score, feedback } = judgement;
        return Evaluation { example_id: example.id.clone(), output, answer, score, feedback };
    }
    let score = task.score(&answer, example);
    let feedback = if score >= 1.0 {
        "Correct.".to_string()
    } else {
        format!("Incorrect. The expected answer is {:?}, but the agent answered {:?}.", example.target(), answer)
    };
    Evaluation { example_id: example.id.clone(), output, answer, score, feedback }
}

/// The mean score of `evaluations`, 0.0 when there are none.
pub fn mean_score(evaluations: &[Evaluation]) -> f64 {
    if evaluations.is_empty() {
        return 0.0;
    }
    evaluations.iter().map(|evaluation| evaluation.score).sum::<f64>() / evaluations.len() as f64
}
