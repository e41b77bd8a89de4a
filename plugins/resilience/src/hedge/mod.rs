//! `use: hedge`: a read-only request that has not been answered after the upstream's usual
//! latency (a percentile of its recent requests) is sent a second time; the first answer wins.

mod factory;
mod layer;

pub use factory::HedgeFactory;
pub use layer::{Hedge, HedgeLayer, HedgeSettings};

#[cfg(test)]
mod tests;
