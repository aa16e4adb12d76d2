//! Tests that never reach a host: input refused before any connection,
//! the command line, error texts. They run once, not once per transport
//! (scripts/test).

mod command_line;
mod error_messages;
mod hostile_values;
mod input;
mod layers;
mod package;
mod setup_commands;
