//! `use: retry`: requests that are safe to repeat are sent again after an upstream failure
//! that may pass, with backoff and a budget.

mod factory;
mod layer;
mod policy;
mod settings;

pub use factory::RetryFactory;
pub use layer::{Retry, RetryLayer};
pub use policy::RetryPolicy;
pub use settings::{BudgetSettings, RetrySettings};

#[cfg(test)]
mod tests;
