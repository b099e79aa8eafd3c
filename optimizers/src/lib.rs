//! LLM clients and the optimizers that rewrite symbolic parameters: OptoPrime, OptoPrimeMulti, OPRO and TextGrad.

pub mod local_server;
