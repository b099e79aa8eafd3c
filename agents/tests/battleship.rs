//! Playing Battleship games on generated boards.

use std::collections::HashSet;

use agents::Error;
use agents::task::battleship::{Board, BoardConfig, CellView, Game, ShotOutcome};

#[test]
fn board_places_ships_without_overlap() -> anyhow::Result<()> {
    for seed in 0..50 {
        let config = BoardConfig::default();
        let board = Board::generate(&config, seed)?;

        let lengths: Vec<usize> = board.ships().iter().map(|ship| ship.cells.len()).collect();
        assert_eq!(lengths, config.ship_lengths, "seed {seed}");
        let cells: HashSet<(usize, usize)> = board.ships().iter().flat_map(|ship| ship.cells.iter().copied()).collect();
        assert_eq!(cells.len(), 9, "ships overlap with seed {seed}");
        assert!(cells.iter().all(|&(x, y)| x < 6 && y < 6), "seed {seed}");
        for ship in board.ships() {
            let same_row = ship.cells.windows(2).all(|pair| pair[0].1 == pair[1].1 && pair[0].0 + 1 == pair[1].0);
            let same_column = ship.cells.windows(2).all(|pair| pair[0].0 == pair[1].0 && pair[0].1 + 1 == pair[1].1);
            assert!(same_row || same_column, "ship not straight: {:?}", ship.cells);
        }
    }
    Ok(())
}

#[test]
fn board_is_seeded() -> anyhow::Result<()> {
    let config = BoardConfig::default();

    assert_eq!(Board::generate(&config, 4)?, Board::generate(&config, 4)?);
    assert_ne!(Board::generate(&config, 4)?, Board::generate(&config, 5)?);
    Ok(())
}

#[test]
fn invalid_configs_are_rejected() {
    let cases = [
        (BoardConfig { size: 0, ship_lengths: vec![1] }, "size 0"),
        (BoardConfig { size: 27, ship_lengths: vec![1] }, "size 27"),
        (BoardConfig { size: 4, ship_lengths: vec![] }, "no ships"),
        (BoardConfig { size: 4, ship_lengths: vec![5] }, "ship length 5"),
        (BoardConfig { size: 3, ship_lengths: vec![3, 3, 3, 1] }, "cover 10 cells"),
    ];
    for (config, expected) in cases {
        let error = Board::generate(&config, 0).expect_err("invalid config");

        assert!(matches!(error, Error::InvalidBoard { .. }), "{error:?}");
        assert!(error.to_string().contains(expected), "{error}");
    }
}

#[test]
fn full_board_of_ships_still_fits() -> anyhow::Result<()> {
    let board = Board::generate(&BoardConfig { size: 2, ship_lengths: vec![2, 2] }, 1)?;

    assert_eq!(board.ships().len(), 2);
    Ok(())
}

#[test]
fn perfect_game_scores_one() -> anyhow::Result<()> {
    let board = Board::generate(&BoardConfig::default(), 8)?;
    let targets: Vec<(usize, usize)> = board.ships().iter().flat_map(|ship| ship.cells.clone()).collect();
    let mut game = Game::new(board, 36);

    let mut outcomes = Vec::new();
    for (x, y) in targets {
        outcomes.push(game.shoot(i64::try_from(x)?, i64::try_from(y)?)?);
    }

    let sunk: Vec<usize> = outcomes
        .iter()
        .filter_map(|outcome| if let ShotOutcome::Sunk { length } = outcome { Some(*length) } else { None })
        .collect();
    assert_eq!(sunk, vec![2, 3, 4]);
    assert_eq!(outcomes.iter().filter(|outcome| **outcome == ShotOutcome::Hit).count(), 6);
    assert!(game.all_sunk());
    assert!(game.is_over());
    assert_eq!(game.shots(), 9);
    assert_eq!(game.hits(), 9);
    assert!((game.score() - 1.0).abs() < f64::EPSILON);
    assert!(matches!(game.shoot(0, 0), Err(Error::GameOver { shots: 9 })));
    Ok(())
}

#[test]
fn misses_and_repeats_lower_score() -> anyhow::Result<()> {
    let board = Board::generate(&BoardConfig { size: 4, ship_lengths: vec![2] }, 3)?;
    let ship: HashSet<(usize, usize)> = board.ships()[0].cells.iter().copied().collect();
    let (hit_x, hit_y) = board.ships()[0].cells[0];
    let (miss_x, miss_y) =
        (0..4).flat_map(|y| (0..4).map(move |x| (x, y))).find(|cell| !ship.contains(cell)).expect("a free cell");
    let mut game = Game::new(board, 10);

    let miss = game.shoot(i64::try_from(miss_x)?, i64::try_from(miss_y)?)?;
    let hit = game.shoot(i64::try_from(hit_x)?, i64::try_from(hit_y)?)?;
    let repeat = game.shoot(i64::try_from(hit_x)?, i64::try_from(hit_y)?)?;

    assert_eq!(miss, ShotOutcome::Miss);
    assert_eq!(hit, ShotOutcome::Hit);
    assert_eq!(repeat, ShotOutcome::AlreadyShot);
    assert_eq!(game.shots(), 3);
    assert_eq!(game.hits(), 1);
    assert!((game.score() - 1.0 / 3.0).abs() < 1e-12);
    assert_eq!(game.cell(miss_x, miss_y), Some(CellView::Miss));
    assert_eq!(game.cell(hit_x, hit_y), Some(CellView::Hit));
    assert_eq!(game.cell(4, 0), None);
    assert!(!game.is_over());
    Ok(())
}

#[test]
fn out_of_bounds_shot_is_error() -> anyhow::Result<()> {
    let mut game = Game::new(Board::generate(&BoardConfig::default(), 0)?, 5);

    for (x, y) in [(-1, 0), (0, 6), (6, 6), (i64::MAX, 0)] {
        let error = game.shoot(x, y).expect_err("outside the board");

        assert!(matches!(error, Error::ShotOutOfBounds { .. }), "{error:?}");
        assert!(error.to_string().contains(&format!("({x}, {y})")), "{error}");
    }
    assert_eq!(game.shots(), 0, "rejected shots do not count");
    assert_eq!(game.score(), 0.0);
    Ok(())
}

#[test]
fn shot_limit_ends_game() -> anyhow::Result<()> {
    let mut game = Game::new(Board::generate(&BoardConfig::default(), 0)?, 2);

    game.shoot(0, 0)?;
    game.shoot(0, 0)?;

    assert!(game.is_over());
    assert!(matches!(game.shoot(1, 1), Err(Error::GameOver { shots: 2 })));
    Ok(())
}

#[test]
fn render_shows_view() -> anyhow::Result<()> {
    let board = Board::generate(&BoardConfig { size: 3, ship_lengths: vec![1] }, 0)?;
    let (ship_x, ship_y) = board.ships()[0].cells[0];
    let (miss_x, miss_y) = if (ship_x, ship_y) == (0, 0) { (1, 0) } else { (0, 0) };
    let mut game = Game::new(board, 9);

    game.shoot(miss_x, miss_y)?;
    game.shoot(i64::try_from(ship_x)?, i64::try_from(ship_y)?)?;
    let rendered = game.render();

    let mut expected = vec![vec!['.'; 3]; 3];
    expected[usize::try_from(miss_y)?][usize::try_from(miss_x)?] = 'O';
    expected[ship_y][ship_x] = 'X';
    let rows: Vec<String> = expected
        .iter()
        .enumerate()
        .map(|(y, row)| format!("{y} {}", row.iter().map(char::to_string).collect::<Vec<_>>().join(" ")))
        .collect();
    assert_eq!(rendered, format!("  0 1 2\n{}", rows.join("\n")));
    Ok(())
}
