//! Example agents, tasks with train, validation and test splits, and the trainer that optimizes them.
