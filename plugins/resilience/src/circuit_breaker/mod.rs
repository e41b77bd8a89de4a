//! `use: circuit_breaker`: a circuit per upstream (or per tool) that opens when the upstream
//! keeps failing, refuses its requests at once while open, and closes after a probe succeeds.

mod factory;
mod future;
mod layer;
mod service;
mod settings;
mod state;

pub use factory::CircuitBreakerFactory;
pub use future::ResponseFuture;
pub use layer::CircuitBreakerLayer;
pub use service::CircuitBreaker;
pub use settings::BreakerSettings;
pub use state::CircuitState;

#[cfg(test)]
mod tests;
