//! One module per `fornax` command (or family of commands).

pub mod bench;
pub mod chain;
pub mod client;
pub mod doctor;
pub mod fhe;
pub mod node;
pub mod prove;
pub mod settings;
pub mod worker;
