//! The libtorch fast path: tensor values, traced numeric operators and the SGD and Adam optimizers.
