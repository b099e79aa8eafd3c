//! The trainer on a small numeric agent with a scripted optimizer: full runs, revert to the
//! best parameters, checkpoints and resume.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;

use agents::task::{Example, Metric, Splits, Task, TaskSource};
use agents::{Agent, Checkpoint, StopReason, Trainer, TrainerConfig};
use optimizers::OptoPrime;
use optimizers::llm::MockClient;
use trace_core::{BoxFuture, Module, Node, Optimizer, ParameterSet, Proposal, StepError, StepReport, Summary, Value};

/// Answers `x + offset` for an input `x`; the offset is the trainable parameter.
struct OffsetAgent {
    offset: Node,
}

impl Module for OffsetAgent {
    fn named_parameters(&self) -> Vec<(String, Node)> {
        vec![("offset".to_string(), self.offset.clone())]
    }
}

impl Agent for OffsetAgent {
    fn forward<'a>(&'a self, example: &'a Example) -> BoxFuture<'a, agents::Result<Node>> {
        Box::pin(async move {
            let input = Node::input("x", example.input.parse::<i64>().unwrap_or(0));
            Ok(&input + &self.offset)
        })
    }
}

/// Proposes the next value of a queue for the offset at each step, and records whether the
/// feedback it saw came from the whole minibatch.
struct ScriptedOptimizer {
    parameters: ParameterSet,
    proposals: VecDeque<i64>,
    log: Vec<StepReport>,
    feedback_counts: Vec<usize>,
}

impl ScriptedOptimizer {
    fn new(offset: &Node, proposals: &[i64]) -> ScriptedOptimizer {
        ScriptedOptimizer {
            parameters: ParameterSet::new(vec![offset.clone()]),
            proposals: proposals.iter().copied().collect(),
            log: Vec::new(),
            feedback_counts: Vec::new(),
        }
    }
}

impl Optimizer for ScriptedOptimizer {
    fn name(&self) -> &str {
        "Scripted"
    }

    fn parameters(&self) -> &[Node] {
        self.parameters.nodes()
    }

    fn propose(&mut self) -> BoxFuture<'_, Result<Proposal, StepError>> {
        Box::pin(async move {
            let summary = Summary::of(self.parameters.nodes());
            self.feedback_counts.push(summary.feedback.len());
            let next = self.proposals.pop_front().ok_or("no scripted proposal left")?;
            if next < 0 {
                return Err(Box::new(optimizers::Error::InvalidReply {
                    optimizer: "Scripted".to_string(),
                    attempts: 3,
                    reason: "the reply names no known variable".to_string(),
                    raw: "{}".to_string(),
                }) as StepError);
            }
            Ok(Proposal {
                updates: vec![(self.parameters.nodes()[0].clone(), Value::Int(next))],
                ..Proposal::default()
            })
        })
    }

    fn apply(&mut self, proposal: &Proposal) -> StepReport {
        let report = self.parameters.apply(proposal);
        self.log.push(report.clone());
        report
    }

    fn step_log(&self) -> &[StepReport] {
        &self.log
    }

    fn checkpoint_state(&self) -> serde_json::Value {
        serde_json::json!({ "remaining": self.proposals.len() })
    }
}

fn task() -> Task {
    let examples =
        (0..30).map(|i| Example::new(format!("add/{i}"), i.to_string(), vec![(i + 3).to_string()])).collect();
    Task {
        name: "add_three".to_string(),
        description: "Add three.".to_string(),
        source: TaskSource::Generated { kind: agents::task::GeneratedTaskKind::MultistepArithmetic, seed: 0 },
        metric: Metric::ExactMatch,
        examples,
    }
}

fn splits(task: &Task) -> Splits<Example> {
    Splits {
        train: task.examples[..10].to_vec(),
        validation: task.examples[10..20].to_vec(),
        test: task.examples[20..].to_vec(),
    }
}

fn config(dir: &Path, steps: usize, resume: bool) -> TrainerConfig {
    TrainerConfig {
        steps,
        batch_size: 4,
        concurrency: 4,
        seed: 11,
        output_dir: dir.to_path_buf(),
        resume,
        model: "none".to_string(),
        progress: false,
    }
}

async fn train(
    agent: &OffsetAgent,
    optimizer: &mut ScriptedOptimizer,
    dir: &Path,
    steps: usize,
    resume: bool,
) -> agents::RunReport {
    let task = task();
    let splits = splits(&task);
    let mut trainer =
        Trainer { agent, optimizer, task: &task, splits: &splits, usage: None, config: config(dir, steps, resume) };
    trainer.run().await.expect("training run")
}

#[tokio::test]
async fn full_run_reaches_the_target_and_writes_a_report() {
    let dir = tempfile::tempdir().unwrap();
    let agent = OffsetAgent { offset: Node::parameter("offset", 0) };
    let mut optimizer = ScriptedOptimizer::new(&agent.offset, &[1, 3]);

    let report = train(&agent, &mut optimizer, dir.path(), 2, false).await;

    assert_eq!(report.stop, StopReason::Completed);
    assert_eq!(report.before.map(|scores| scores.test), Some(0.0));
    assert_eq!(report.after.map(|after| after.test), Some(1.0));
    assert_eq!(report.steps.len(), 2);
    assert_eq!(agent.offset.value(), Value::Int(3));
    assert_eq!(optimizer.feedback_counts, [4, 4], "every example of the minibatch sends feedback");
    assert!(dir.path().join("report.json").exists());
    assert!(std::fs::read_to_string(dir.path().join("report.txt")).unwrap().contains("test"));
}

#[tokio::test]
async fn worse_validation_reverts_to_the_best_parameters() {
    let dir = tempfile::tempdir().unwrap();
    let agent = OffsetAgent { offset: Node::parameter("offset", 0) };
    let mut optimizer = ScriptedOptimizer::new(&agent.offset, &[3, 7]);

    let report = train(&agent, &mut optimizer, dir.path(), 2, false).await;

    assert!(!report.steps[0].reverted);
    assert!(report.steps[1].reverted);
    assert_eq!(report.steps[1].validation_score, 0.0);
    assert_eq!(agent.offset.value(), Value::Int(3));
    assert_eq!(report.after.map(|after| after.validation), Some(1.0));
}

#[tokio::test]
async fn unusable_reply_is_recorded_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let agent = OffsetAgent { offset: Node::parameter("offset", 0) };
    let mut optimizer = ScriptedOptimizer::new(&agent.offset, &[-1, 3]);

    let report = train(&agent, &mut optimizer, dir.path(), 2, false).await;

    assert_eq!(report.stop, StopReason::Completed);
    let error = report.steps[0].optimizer.error.as_deref().unwrap_or_default();
    assert!(error.contains("names no known variable"), "{error}");
    assert!(report.steps[0].optimizer.updates.is_empty());
    assert_eq!(report.steps[1].optimizer.updates.len(), 1);
    assert_eq!(agent.offset.value(), Value::Int(3));
}

#[tokio::test]
async fn resume_continues_after_the_last_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let first_agent = OffsetAgent { offset: Node::parameter("offset", 0) };
    let mut first_optimizer = ScriptedOptimizer::new(&first_agent.offset, &[1]);
    train(&first_agent, &mut first_optimizer, dir.path(), 1, false).await;
    let saved = Checkpoint::load(&dir.path().join("checkpoint.json")).unwrap();

    let agent = OffsetAgent { offset: Node::parameter("offset", 0) };
    let mut optimizer = ScriptedOptimizer::new(&agent.offset, &[3]);
    let report = train(&agent, &mut optimizer, dir.path(), 2, true).await;

    assert_eq!(saved.completed_steps, 1);
    assert_eq!(report.steps.len(), 2);
    assert_eq!(report.steps[0], saved.steps[0]);
    assert_eq!(optimizer.feedback_counts.len(), 1, "only the second step runs after resuming");
    assert_eq!(agent.offset.value(), Value::Int(3));
    assert_eq!(report.before.map(|scores| scores.test), Some(0.0));
}

#[tokio::test]
async fn resume_rejects_a_checkpoint_of_another_seed() {
    let dir = tempfile::tempdir().unwrap();
    let agent = OffsetAgent { offset: Node::parameter("offset", 0) };
    let mut optimizer = ScriptedOptimizer::new(&agent.offset, &[1]);
    train(&agent, &mut optimizer, dir.path(), 1, false).await;
    let task = task();
    let splits = splits(&task);
    let mut other = config(dir.path(), 2, true);
    other.seed = 99;

    let mut trainer =
        Trainer { agent: &agent, optimizer: &mut optimizer, task: &task, splits: &splits, usage: None, config: other };
    let error = trainer.run().await.unwrap_err();

    assert!(error.to_string().contains("seed 11"), "{error}");
}

#[test]
fn minibatches_depend_only_on_seed_and_step() {
    let examples = task().examples;

    let first = agents::trainer::minibatch(&examples, 5, 3, 0);
    let again = agents::trainer::minibatch(&examples, 5, 3, 0);
    let next = agents::trainer::minibatch(&examples, 5, 3, 1);

    assert_eq!(first, again);
    assert_ne!(first, next);
    let ids: std::collections::HashSet<&str> = first.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids.len(), 5, "a minibatch has no repeated examples");
}

#[tokio::test]
async fn unusable_optimizer_replies_skip_the_step() {
    let dir = tempfile::tempdir().unwrap();
    let agent = OffsetAgent { offset: Node::parameter("offset", 0) };
    let good = format!(r#"{{"reasoning": "add three", "answer": "", "suggestion": {{"{}": 3}}}}"#, agent.offset.key());
    // OptoPrime sends an unusable reply back twice, so the first step spends three replies.
    let client = MockClient::new("mock").reply("no JSON here").reply("still none").reply("nothing").reply(good);
    let mut optimizer = OptoPrime::new(vec![agent.offset.clone()], Arc::new(client));
    let task = task();
    let splits = splits(&task);

    let mut trainer = Trainer {
        agent: &agent,
        optimizer: &mut optimizer,
        task: &task,
        splits: &splits,
        usage: None,
        config: config(dir.path(), 2, false),
    };
    let report = trainer.run().await.unwrap();

    assert_eq!(report.stop, StopReason::Completed);
    let first = &report.steps[0].optimizer;
    assert!(first.error.as_deref().is_some_and(|error| error.contains("could not use the LLM reply")), "{first:?}");
    assert_eq!(first.llm_calls, 3);
    assert!(first.updates.is_empty());
    assert_eq!(report.steps[1].optimizer.error, None);
    assert_eq!(agent.offset.value(), Value::Int(3));
    assert_eq!(report.after.map(|after| after.test), Some(1.0));
}
