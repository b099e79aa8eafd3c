function act(board, plan) {
  const x = board.shots % board.size;
  const y = Math.floor(board.shots / board.size);
  return [x, y];
}
