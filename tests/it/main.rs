//! Integration tests: the real binary, a real SQLite file, and the API stand-in on
//! 127.0.0.1 (see `support/`). One test binary, so that the support code is built once.

mod claims;
mod holds;
mod hostile;
mod hosts;
mod insider;
mod operator;
mod pipeline;
mod reload;
mod rules;
mod support;
mod systemd;
mod verify;
