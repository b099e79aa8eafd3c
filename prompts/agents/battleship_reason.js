function reason(board) {
  return "Shoot the next cell that has not been shot, row by row.";
}
