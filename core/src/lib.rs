//! toolgate: a framework and gateway for the Model Context Protocol.

pub mod config;
