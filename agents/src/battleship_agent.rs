//! A Battleship player whose `reason` and `act` functions are trainable JavaScript code.
//!
//! One example is one game on a board generated from the example's seed. Each turn traces
//! `plan = eval(board, __code=reason)`, `shot = eval(board, plan, __code=act)` and
//! `board = shoot(board, shot)`, so the boards form a chain from the first turn to the
//! last, and the output of the game is `score(board)`: hits divided by shots. The agent
//! grades that output itself ([`Agent::judge`]) with feedback on hits, misses, repeated
//! shots and the ships left afloat.
//!
//! The scripts see the game only through the `board` argument, a plain object, and the
//! stateless host function `neighbors(board, x, y)`. The hidden ship positions stay in
//! Rust, and no script can fire a shot itself, so concurrent games share one engine
//! without sharing state.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;
use trace_core::{
    BoxFuture, Bundle, CodeProjection, Engine, JsFunction, Module, Node, Projection, Value,
    code_parameter_with_description,
};

use crate::agent::{Agent, Judgement};
use crate::task::battleship::{Board, BoardConfig, Game, ShotOutcome};
use crate::task::{Example, Metric, Task, TaskSource};
use crate::{Error, Result};

/// The `reason` function the agent starts from.
pub const DEFAULT_REASON: &str = include_str!("../../prompts/agents/battleship_reason.js");

/// The `act` function the agent starts from.
pub const DEFAULT_ACT: &str = include_str!("../../prompts/agents/battleship_act.js");

/// The documentation of the `board` argument, part of both code parameters' descriptions.
const BOARD_DOCUMENTATION: &str = "`board` is an object: `size` (width and height), `rows` (one string per row y, \
character x is '.' not shot, 'O' miss, 'X' hit), `shots`, `hits`, `shots_left`, `repeated_shots` and `ships_left` \
(lengths of the ships not sunk yet). The host function `neighbors(board, x, y)` returns the [x, y] cells next to \
(x, y), up, down, left and right, that are on the board and not shot yet.";

/// Settings of a [`BattleshipAgent`].
#[derive(Clone, Debug)]
pub struct BattleshipSettings {
    /// Size of the boards and their ships.
    pub board: BoardConfig,
    /// Shots per game.
    pub max_shots: usize,
    /// The initial `function reason(board)`, which returns a plan of any JSON type.
    pub reason: String,
    /// The initial `function act(board, plan)`, which returns the target cell `[x, y]`.
    pub act: String,
}

impl Default for BattleshipSettings {
    /// Returns a 5x5 board with ships of length 2 and 3, 12 shots per game, and the default code.
    fn default() -> BattleshipSettings {
        BattleshipSettings {
            board: BoardConfig { size: 5, ship_lengths: vec![2, 3] },
            max_shots: 12,
            reason: DEFAULT_REASON.trim_end().to_string(),
            act: DEFAULT_ACT.trim_end().to_string(),
        }
    }
}

/// Plays Battleship with two trainable JavaScript functions: `reason(board)` plans and
/// `act(board, plan)` picks the cell to shoot.
#[derive(Clone, Debug)]
pub struct BattleshipAgent {
    reason_code: Node,
    act_code: Node,
    reason: JsFunction,
    act: JsFunction,
    shoot: Bundle,
    score: Bundle,
    settings: BattleshipSettings,
}

impl BattleshipAgent {
    /// Creates an agent whose code runs on `engine`, and registers the host function
    /// `neighbors` on the engine.
    ///
    /// # Errors
    ///
    /// [`Error::Graph`] when the code of `settings` is not one JavaScript function each.
    pub fn new(engine: &Engine, settings: BattleshipSettings) -> Result<BattleshipAgent> {
        engine.register_variadic("neighbors", neighbors)?;
        let reason_code = code_parameter_with_description(
            settings.reason.clone(),
            format!("Plans the next shot of a Battleship game from the board. {BOARD_DOCUMENTATION}"),
        )?;
        let act_code = code_parameter_with_description(
            settings.act.clone(),
            format!(
                "Returns the cell [x, y] to shoot next, given the board and the plan returned by `reason`. \
                 x is the column and y the row, both from 0. {BOARD_DOCUMENTATION}"
            ),
        )?;
        let reason = JsFunction::new(engine, &reason_code)?;
        let act = JsFunction::new(engine, &act_code)?;
        let shoot = Bundle::new(
            "shoot",
            "Fires at the cell [x, y] given by `shot` on the hidden board of the game and returns the board after \
             the shot. A cell shot before counts as a shot again and changes nothing.",
            &["board", "shot"],
        );
        let score =
            Bundle::new("score", "The score of the finished game: hits divided by shots, from 0.0 to 1.0.", &["board"]);
        Ok(BattleshipAgent { reason_code, act_code, reason, act, shoot, score, settings })
    }

    /// Returns the `reason` code parameter.
    pub fn reason_code(&self) -> &Node {
        &self.reason_code
    }

    /// Returns the `act` code parameter.
    pub fn act_code(&self) -> &Node {
        &self.act_code
    }

    /// The projections an optimizer must apply: both functions keep their name and
    /// signature.
    pub fn projections(&self) -> Vec<(Node, Arc<dyn Projection>)> {
        vec![
            (
                self.reason_code.clone(),
                Arc::new(CodeProjection::with_syntax_check(self.reason.engine())) as Arc<dyn Projection>,
            ),
            (
                self.act_code.clone(),
                Arc::new(CodeProjection::with_syntax_check(self.act.engine())) as Arc<dyn Projection>,
            ),
        ]
    }

    /// Plays one game on the board of `seed` and returns the traced score, or the
    /// exception node of the first failing step (a script error, an invalid shot).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidBoard`] when the board configuration cannot be played;
    /// [`Error::Graph`] when a traced operator is misused.
    pub async fn play(&self, seed: u64) -> Result<Node> {
        let board = Board::generate(&self.settings.board, seed)?;
        let game = Mutex::new(GameState::new(Game::new(board, self.settings.max_shots), &self.settings.board));
        let mut board_node = Node::input("board", game.lock().view());

        while !game.lock().game.is_over() {
            let plan = self.reason.call_async(&[&board_node]).await?;
            if plan.is_exception() {
                return Ok(plan);
            }
            let shot = self.act.call_async(&[&board_node, &plan]).await?;
            if shot.is_exception() {
                return Ok(shot);
            }
            board_node = self
                .shoot
                .call(&[&board_node, &shot], |values| game.lock().fire(values.get(1).unwrap_or(&Value::Null)))?;
            if board_node.is_exception() {
                return Ok(board_node);
            }
        }

        let score = game.lock().game.score();
        Ok(self.score.call(&[&board_node], |_| Value::Float(score))?)
    }
}

impl Module for BattleshipAgent {
    fn named_parameters(&self) -> Vec<(String, Node)> {
        vec![("reason".to_string(), self.reason_code.clone()), ("act".to_string(), self.act_code.clone())]
    }
}

impl Agent for BattleshipAgent {
    /// Plays the game whose board seed is the example's input.
    fn forward<'a>(&'a self, example: &'a Example) -> BoxFuture<'a, Result<Node>> {
        Box::pin(async move {
            let seed = example.input.trim().parse::<u64>().map_err(|_| Error::InvalidBoard {
                reason: format!(
                    "example {} has input {:?}, which is not a board seed; use a non-negative integer",
                    example.id, example.input
                ),
            })?;
            self.play(seed).await
        })
    }

    fn judge(&self, output: &Node, _example: &Example) -> Option<Judgement> {
        let score = match output.value() {
            Value::Float(score) => score,
            _ => return None,
        };
        let board = output.parents().first()?.value();
        Some(Judgement { score, feedback: feedback(score, &board) })
    }
}

/// Feedback on a finished game from its final board.
fn feedback(score: f64, board: &Value) -> String {
    let field = |name: &str| match board {
        Value::Map(fields) => fields.get(name).cloned().unwrap_or(Value::Null),
        _ => Value::Null,
    };
    let count = |name: &str| match field(name) {
        Value::Int(count) => count,
        _ => 0,
    };
    let (shots, hits, repeated) = (count("shots"), count("hits"), count("repeated_shots"));
    let mut text = format!("Score {score:.2}: {hits} hits in {shots} shots, {} misses.", shots - hits - repeated);
    if repeated > 0 {
        text.push_str(&format!(" {repeated} shots hit cells that were already shot, which wastes them."));
    }
    match field("ships_left") {
        Value::List(ships) if !ships.is_empty() => {
            let lengths: Vec<String> = ships.iter().map(Value::render).collect();
            text.push_str(&format!(" Ships still afloat, by length: {}.", lengths.join(", ")));
        }
        _ => text.push_str(" Every ship was sunk."),
    }
    text.push_str(" A higher score needs fewer misses: after a hit, shoot the cells next to it.");
    text
}

/// A game with what the player may know about it.
struct GameState {
    game: Game,
    ships_left: Vec<usize>,
    repeated_shots: usize,
}

impl GameState {
    fn new(game: Game, config: &BoardConfig) -> GameState {
        GameState { game, ships_left: config.ship_lengths.clone(), repeated_shots: 0 }
    }

    /// Fires the shot `[x, y]` and returns the board after it.
    fn fire(&mut self, shot: &Value) -> std::result::Result<Value, String> {
        let (x, y) = cell(shot, self.game.size())?;
        match self.game.shoot(x, y).map_err(|error| error.to_string())? {
            ShotOutcome::Sunk { length } => {
                if let Some(index) = self.ships_left.iter().position(|left| *left == length) {
                    self.ships_left.remove(index);
                }
            }
            ShotOutcome::AlreadyShot => self.repeated_shots += 1,
            ShotOutcome::Miss | ShotOutcome::Hit => {}
        }
        Ok(self.view())
    }

    /// Returns the board as the scripts see it.
    fn view(&self) -> Value {
        let size = self.game.size();
        let rows: Vec<Value> = (0..size)
            .map(|y| {
                let row: String = (0..size)
                    .map(|x| match self.game.cell(x, y) {
                        Some(crate::task::battleship::CellView::Miss) => 'O',
                        Some(crate::task::battleship::CellView::Hit) => 'X',
                        _ => '.',
                    })
                    .collect();
                Value::Text(row)
            })
            .collect();
        let count = |n: usize| Value::Int(i64::try_from(n).unwrap_or(i64::MAX));
        let mut fields = BTreeMap::new();
        fields.insert("size".to_string(), count(size));
        fields.insert("rows".to_string(), Value::List(rows));
        fields.insert("shots".to_string(), count(self.game.shots()));
        fields.insert("hits".to_string(), count(self.game.hits()));
        fields.insert("shots_left".to_string(), count(self.game.max_shots().saturating_sub(self.game.shots())));
        fields.insert("repeated_shots".to_string(), count(self.repeated_shots));
        fields.insert("ships_left".to_string(), Value::List(self.ships_left.iter().map(|&n| count(n)).collect()));
        Value::Map(fields)
    }
}

/// Reads a cell `[x, y]` of integers.
fn cell(shot: &Value, size: usize) -> std::result::Result<(i64, i64), String> {
    let invalid =
        || format!("`act` must return [x, y] with integers x and y in 0..{size}, but returned {}", shot.render());
    let Value::List(items) = shot else {
        return Err(invalid());
    };
    let coordinate = |value: &Value| match value {
        Value::Int(number) => Some(*number),
        // JavaScript has one number type, so 2.0 stands for 2.
        Value::Float(number) if number.fract() == 0.0 && number.abs() < 1e15 => Some(*number as i64),
        _ => None,
    };
    match items.as_slice() {
        [x, y] => match (coordinate(x), coordinate(y)) {
            (Some(x), Some(y)) => Ok((x, y)),
            _ => Err(invalid()),
        },
        _ => Err(invalid()),
    }
}

/// The host function `neighbors(board, x, y)`: the cells up, down, left and right of
/// `(x, y)` that are on the board and not shot yet, as `[x, y]` lists.
fn neighbors(arguments: &[Value]) -> std::result::Result<Value, String> {
    let usage = "call it as neighbors(board, x, y) with the board argument and integer coordinates";
    let [Value::Map(board), x, y] = arguments else {
        return Err(usage.to_string());
    };
    let Value::List(rows) = board.get("rows").cloned().unwrap_or(Value::Null) else {
        return Err(format!("the board has no `rows` list; {usage}"));
    };
    let (x, y) = cell(&Value::List(vec![x.clone(), y.clone()]), rows.len()).map_err(|_| usage.to_string())?;

    let mut cells = Vec::new();
    for (dx, dy) in [(0, -1), (0, 1), (-1, 0), (1, 0)] {
        let (nx, ny) = (x + dx, y + dy);
        let (Ok(column), Ok(row)) = (usize::try_from(nx), usize::try_from(ny)) else {
            continue;
        };
        let unknown = match rows.get(row) {
            Some(Value::Text(text)) => text.chars().nth(column) == Some('.'),
            _ => false,
        };
        if unknown {
            cells.push(Value::List(vec![Value::Int(nx), Value::Int(ny)]));
        }
    }
    Ok(Value::List(cells))
}

/// Creates a Battleship task of `games` games whose board seeds are drawn from `seed`.
///
/// Each example's input is a board seed. The agent plays rather than replies, so the
/// target is the perfect score `1.0`, and [`BattleshipAgent`] grades its games itself.
pub fn battleship_task(board: BoardConfig, games: usize, seed: u64) -> Task {
    let examples = (0..games)
        .map(|index| {
            let board_seed = seed.wrapping_mul(1_000_003).wrapping_add(index as u64);
            Example::new(format!("battleship/{index}"), board_seed.to_string(), vec!["1.0".to_string()])
        })
        .collect();
    Task {
        name: "battleship".to_string(),
        description: "Sink the hidden ships in as few shots as possible.".to_string(),
        source: TaskSource::Battleship { board, seed },
        metric: Metric::ExactMatch,
        examples,
    }
}
