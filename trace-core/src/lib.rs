//! The traced graph: values, nodes, operators, bundles, backward propagation and summaries.
