//! A Battleship game on a small square board, for agents that learn to play.
//!
//! Coordinates are 0-based: `x` is the column and `y` the row, both in `0..size`.
//! The score of a game is hits divided by shots, so a perfect player scores 1.0.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::seeded_rng::SeededRng;
use crate::{Error, Result};

/// Maximum number of random placements tried for one ship before giving up.
const MAX_PLACEMENT_ATTEMPTS: usize = 1000;

/// Size of the board and the ships on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoardConfig {
    /// Width and height of the board.
    pub size: usize,
    /// Length of each ship, in cells.
    pub ship_lengths: Vec<usize>,
}

impl Default for BoardConfig {
    /// Returns a 6x6 board with ships of length 2, 3 and 4 (9 of 36 cells).
    fn default() -> Self {
        Self { size: 6, ship_lengths: vec![2, 3, 4] }
    }
}

/// A ship: the cells it covers, as `(x, y)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ship {
    /// Covered cells, in order along the ship.
    pub cells: Vec<(usize, usize)>,
}

/// Ships placed on a board; hidden from the player.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Board {
    size: usize,
    ships: Vec<Ship>,
}

impl Board {
    /// Places the ships of `config` at random, horizontal or vertical, without overlap.
    ///
    /// The same config and seed always give the same board.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidBoard`] when the size is not in `1..=26` (a larger board renders into
    /// prompts that are too long to play) or there are no ships. Also when a ship is empty
    /// or longer than the board, the ships cover more cells than the board has, or no free
    /// place is found for a ship.
    pub fn generate(config: &BoardConfig, seed: u64) -> Result<Self> {
        let size = config.size;
        let invalid = |reason: String| Error::InvalidBoard { reason };
        if !(1..=26).contains(&size) {
            return Err(invalid(format!("size {size} must be between 1 and 26")));
        }
        if config.ship_lengths.is_empty() {
            return Err(invalid("no ships; give at least one ship length".to_owned()));
        }
        if let Some(length) = config.ship_lengths.iter().find(|length| **length == 0 || **length > size) {
            return Err(invalid(format!("ship length {length} must be between 1 and the board size {size}")));
        }
        let covered: usize = config.ship_lengths.iter().sum();
        if covered > size * size {
            return Err(invalid(format!("ships cover {covered} cells but the board has {}", size * size)));
        }

        let mut rng = SeededRng::new(seed);
        let mut occupied = vec![false; size * size];
        let mut ships = Vec::with_capacity(config.ship_lengths.len());
        for &length in &config.ship_lengths {
            let ship = (0..MAX_PLACEMENT_ATTEMPTS)
                .find_map(|_| {
                    let horizontal = rng.chance(1, 2);
                    let (width, height) = if horizontal { (size - length + 1, size) } else { (size, size - length + 1) };
                    let (x, y) = (rng.below(width), rng.below(height));
                    let cells: Vec<(usize, usize)> = (0..length).map(|step| if horizontal { (x + step, y) } else { (x, y + step) }).collect();
                    cells.iter().all(|&(x, y)| !occupied[y * size + x]).then_some(Ship { cells })
                })
                .ok_or_else(|| invalid(format!("no free place for a ship of length {length} after {MAX_PLACEMENT_ATTEMPTS} tries; use fewer or shorter ships")))?;
            for &(x, y) in &ship.cells {
                occupied[y * size + x] = true;
            }
            ships.push(ship);
        }
        Ok(Self { size, ships })
    }

    /// Returns the width and height of the board.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Returns the ships.
    pub fn ships(&self) -> &[Ship] {
        &self.ships
    }

    fn ship_at(&self, x: usize, y: usize) -> Option<usize> {
        self.ships.iter().position(|ship| ship.cells.contains(&(x, y)))
    }
}

/// Result of one shot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShotOutcome {
    /// No ship at the cell.
    Miss,
    /// A ship was hit and still floats.
    Hit,
    /// The shot hit the last intact cell of a ship.
    Sunk {
        /// Length of the sunk ship.
        length: usize,
    },
    /// The cell was shot before; the shot counts but changes nothing.
    AlreadyShot,
}

/// The player's knowledge of a cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CellView {
    /// Not shot yet.
    Unknown,
    /// Shot, no ship.
    Miss,
    /// Shot, ship hit.
    Hit,
}

/// A game in progress on a hidden board.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Game {
    board: Board,
    view: Vec<CellView>,
    hits_per_ship: Vec<usize>,
    shots: usize,
    hits: usize,
    max_shots: usize,
}

impl Game {
    /// Starts a game that ends when every ship is sunk or after `max_shots` shots.
    pub fn new(board: Board, max_shots: usize) -> Self {
        let cells = board.size * board.size;
        let ships = board.ships.len();
        Self {
            board,
            view: vec![CellView::Unknown; cells],
            hits_per_ship: vec![0; ships],
            shots: 0,
            hits: 0,
            max_shots,
        }
    }

    /// Fires at column `x`, row `y`.
    ///
    /// Takes signed coordinates so that any value an agent produces is checked, not
    /// wrapped.
    ///
    /// # Errors
    ///
    /// [`Error::ShotOutOfBounds`] outside the board and [`Error::GameOver`] after the game
    /// ended; neither counts as a shot.
    pub fn shoot(&mut self, x: i64, y: i64) -> Result<ShotOutcome> {
        if self.is_over() {
            return Err(Error::GameOver { shots: self.shots });
        }
        let size = self.board.size;
        let out_of_bounds = || Error::ShotOutOfBounds { x, y, size };
        let column = usize::try_from(x).ok().filter(|column| *column < size).ok_or_else(out_of_bounds)?;
        let row = usize::try_from(y).ok().filter(|row| *row < size).ok_or_else(out_of_bounds)?;

        self.shots += 1;
        let cell = row * size + column;
        if self.view.get(cell) != Some(&CellView::Unknown) {
            return Ok(ShotOutcome::AlreadyShot);
        }
        let Some(ship_index) = self.board.ship_at(column, row) else {
            self.set_view(cell, CellView::Miss);
            return Ok(ShotOutcome::Miss);
        };

        self.set_view(cell, CellView::Hit);
        self.hits += 1;
        let length = self.board.ships.get(ship_index).map_or(0, |ship| ship.cells.len());
        let Some(ship_hits) = self.hits_per_ship.get_mut(ship_index) else {
            return Ok(ShotOutcome::Hit);
        };
        *ship_hits += 1;
        if *ship_hits == length { Ok(ShotOutcome::Sunk { length }) } else { Ok(ShotOutcome::Hit) }
    }

    fn set_view(&mut self, cell: usize, view: CellView) {
        if let Some(slot) = self.view.get_mut(cell) {
            *slot = view;
        }
    }

    /// Returns hits divided by shots, or 0.0 before the first shot.
    pub fn score(&self) -> f64 {
        if self.shots == 0 { 0.0 } else { self.hits as f64 / self.shots as f64 }
    }

    /// Checks whether every ship is sunk or the shots are used up.
    pub fn is_over(&self) -> bool {
        self.all_sunk() || self.shots >= self.max_shots
    }

    /// Checks whether every ship is sunk.
    pub fn all_sunk(&self) -> bool {
        self.board.ships.iter().zip(&self.hits_per_ship).all(|(ship, hits)| *hits == ship.cells.len())
    }

    /// Returns the number of shots fired, repeated cells included.
    pub fn shots(&self) -> usize {
        self.shots
    }

    /// Returns the number of shots that hit a ship for the first time at their cell.
    pub fn hits(&self) -> usize {
        self.hits
    }

    /// Returns the shot limit.
    pub fn max_shots(&self) -> usize {
        self.max_shots
    }

    /// Returns the width and height of the board.
    pub fn size(&self) -> usize {
        self.board.size
    }

    /// Returns what the player knows about column `x`, row `y`, or `None` outside the board.
    pub fn cell(&self, x: usize, y: usize) -> Option<CellView> {
        if x >= self.board.size || y >= self.board.size {
            return None;
        }
        self.view.get(y * self.board.size + x).copied()
    }

    /// Renders the player's view: `.` not shot, `O` miss, `X` hit, with column numbers on
    /// top and row numbers on the left.
    ///
    /// ```text
    ///   0 1 2
    /// 0 . X .
    /// 1 O . .
    /// 2 . . .
    /// ```
    pub fn render(&self) -> String {
        let size = self.board.size;
        let mut text = String::from(" ");
        for x in 0..size {
            let _ = write!(text, " {x}");
        }
        for y in 0..size {
            let _ = write!(text, "\n{y}");
            for x in 0..size {
                let symbol = match self.cell(x, y) {
                    Some(CellView::Miss) => 'O',
                    Some(CellView::Hit) => 'X',
                    Some(CellView::Unknown) | None => '.',
                };
                let _ = write!(text, " {symbol}");
            }
        }
        text
    }
}
