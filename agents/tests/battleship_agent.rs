//! The Battleship agent: games played by trainable JavaScript, scores and feedback, script
//! errors as exception nodes, and a training run that rewrites `act`.

use std::sync::Arc;

use agents::battleship_agent::{BattleshipAgent, BattleshipSettings, battleship_task};
use agents::task::Splits;
use agents::task::battleship::BoardConfig;
use agents::{Agent, StopReason, Trainer, TrainerConfig};
use optimizers::OptoPrime;
use optimizers::llm::MockClient;
use trace_core::{Engine, Node, Value};

/// Always shoots the corner, so every shot after the first repeats it.
const CORNER_ACT: &str = "function act(board, plan) {\n  return [0, 0];\n}";

/// Shoots the cells in row order, never the same cell twice.
const SCAN_ACT: &str = "function act(board, plan) {\n  for (let y = 0; y < board.size; y++) {\n    const x = board.rows[y].indexOf('.');\n    if (x >= 0) return [x, y];\n  }\n  return [0, 0];\n}";

/// Shoots next to a hit first, then scans in a checkerboard pattern.
const HUNT_ACT: &str = "function act(board, plan) {\n  for (let y = 0; y < board.size; y++) {\n    for (let x = 0; x < board.size; x++) {\n      if (board.rows[y][x] === 'X') {\n        const next = neighbors(board, x, y);\n        if (next.length > 0) return next[0];\n      }\n    }\n  }\n  for (let y = 0; y < board.size; y++) {\n    for (let x = (y % 2); x < board.size; x += 2) {\n      if (board.rows[y][x] === '.') return [x, y];\n    }\n  }\n  for (let y = 0; y < board.size; y++) {\n    const x = board.rows[y].indexOf('.');\n    if (x >= 0) return [x, y];\n  }\n  return [0, 0];\n}";

fn agent(act: &str) -> BattleshipAgent {
    let engine = Engine::new().expect("JavaScript engine");
    let settings = BattleshipSettings { act: act.to_string(), ..BattleshipSettings::default() };
    BattleshipAgent::new(&engine, settings).expect("Battleship agent")
}

async fn mean_score(agent: &BattleshipAgent, seeds: std::ops::Range<u64>) -> f64 {
    let games = seeds.end - seeds.start;
    let mut total = 0.0;
    for seed in seeds {
        let output = agent.play(seed).await.expect("a game on a valid board");
        match output.value() {
            Value::Float(score) => total += score,
            other => panic!("seed {seed}: no score but {other:?}, error {:?}", output.error()),
        }
    }
    total / games as f64
}

#[tokio::test]
async fn never_repeating_act_beats_corner_act() {
    let corner = agent(CORNER_ACT);
    let scan = agent(SCAN_ACT);
    let hunt = agent(HUNT_ACT);

    let corner_score = mean_score(&corner, 0..10).await;
    let scan_score = mean_score(&scan, 0..10).await;
    let hunt_score = mean_score(&hunt, 0..10).await;

    assert!(corner_score <= 1.0 / 12.0, "one hit at most in 12 shots, got {corner_score}");
    assert!(scan_score > corner_score, "scan {scan_score} <= corner {corner_score}");
    assert!(hunt_score > scan_score, "hunt {hunt_score} <= scan {scan_score}");
}

#[tokio::test]
async fn game_traces_a_chain_of_turns() {
    let agent = agent(SCAN_ACT);

    let output = agent.play(3).await.unwrap();

    assert_eq!(output.op_name(), Some("score"));
    let final_board = &output.parents()[0];
    assert_eq!(final_board.op_name(), Some("shoot"));
    let Value::Map(fields) = final_board.value() else { panic!("board is not a map: {:?}", final_board.value()) };
    assert_eq!(fields["size"], Value::Int(5));
    assert_eq!(fields["repeated_shots"], Value::Int(0));
    let shots = match fields["shots"] {
        Value::Int(shots) => shots,
        ref other => panic!("shots: {other:?}"),
    };
    // Each turn adds one `eval` of reason, one of act and one `shoot`, after the input board.
    assert_eq!(output.level(), 3 * shots as usize + 1);
}

#[tokio::test]
async fn feedback_names_repeated_shots() {
    let agent = agent(CORNER_ACT);
    let example = agents::task::Example::new("battleship/0", "5", vec!["1.0".to_string()]);

    let output = agent.forward(&example).await.unwrap();
    let judgement = agent.judge(&output, &example).unwrap();

    assert_eq!(Value::Float(judgement.score), output.value());
    assert!(judgement.feedback.contains("shots hit cells that were already shot"), "{}", judgement.feedback);
    assert!(judgement.feedback.contains("Ships still afloat"), "{}", judgement.feedback);
}

#[tokio::test]
async fn throwing_reason_is_annotated_exception() {
    let engine = Engine::new().unwrap();
    let reason = "function reason(board) {\n  const plan = board.rows.length;\n  throw new Error('no plan for ' + plan + ' rows');\n}";
    let settings = BattleshipSettings { reason: reason.to_string(), ..BattleshipSettings::default() };
    let agent = BattleshipAgent::new(&engine, settings).unwrap();

    let output = agent.play(0).await.unwrap();

    assert!(output.is_exception());
    let error = output.error().unwrap();
    assert!(error.contains("no plan for 5 rows"), "{error}");
    assert!(error.contains(">> 3 |   throw new Error"), "the failing line is marked: {error}");
    let parents: Vec<&str> = output.inputs().map(|(name, _)| name).collect();
    assert_eq!(parents, ["board", "__code"]);
    assert!(agent.judge(&output, &agents::task::Example::new("b/0", "0", vec![])).is_none());
}

#[tokio::test]
async fn shot_off_board_is_exception() {
    let agent = agent("function act(board, plan) {\n  return [board.size, 0];\n}");

    let output = agent.play(0).await.unwrap();

    assert!(output.is_exception());
    assert_eq!(output.op_name(), Some("shoot"));
    assert!(output.error().unwrap().contains("outside the 5x5 board"), "{:?}", output.error());
}

#[tokio::test]
async fn non_seed_input_is_an_error() {
    let agent = agent(SCAN_ACT);
    let example = agents::task::Example::new("battleship/x", "a board", vec!["1.0".to_string()]);

    let error = agent.forward(&example).await.unwrap_err();

    assert!(error.to_string().contains("not a board seed"), "{error}");
}

#[tokio::test]
async fn training_rewrites_act_and_raises_score() {
    let engine = Engine::new().unwrap();
    let agent = BattleshipAgent::new(&engine, BattleshipSettings::default()).unwrap();
    let reply = serde_json::json!({
        "reasoning": "Shots after a hit should go next to it.",
        "answer": "",
        "suggestion": {"act": HUNT_ACT}
    });
    let client = Arc::new(MockClient::new("mock").reply(reply.to_string()));
    let mut optimizer = OptoPrime::new(vec![agent.reason_code().clone(), agent.act_code().clone()], client);
    for (node, projection) in agent.projections() {
        optimizer.add_projection(&node, projection);
    }
    let task = battleship_task(BoardConfig { size: 5, ship_lengths: vec![2, 3] }, 12, 7);
    let splits = Splits {
        train: task.examples[..4].to_vec(),
        validation: task.examples[4..8].to_vec(),
        test: task.examples[8..].to_vec(),
    };
    let output_dir = tempfile::tempdir().unwrap();
    let config = TrainerConfig {
        steps: 1,
        batch_size: 2,
        concurrency: 2,
        seed: 7,
        output_dir: output_dir.path().to_path_buf(),
        resume: false,
        model: "mock".to_string(),
        progress: false,
    };

    let mut trainer =
        Trainer { agent: &agent, optimizer: &mut optimizer, task: &task, splits: &splits, usage: None, config };
    let report = trainer.run().await.unwrap();

    assert_eq!(report.stop, StopReason::Completed);
    assert_eq!(agent.act_code().value(), Value::Code(HUNT_ACT.to_string()));
    let (before, after) = (report.before.unwrap(), report.after.unwrap());
    assert!(after.test > before.test, "test score {} -> {}", before.test, after.test);
    assert!(report.steps[0].train_score > 0.0);
    assert!(!report.steps[0].reverted);
    let feedback_node: &Node = agent.act_code();
    assert!(feedback_node.feedback().is_empty(), "the trainer clears feedback after the step");
}
