//! Story tests: a terminal against a tiny fake host, asserting on the frames
//! it sends and the events it reports.

mod host;
mod rig;

mod device;
mod offline;
mod policies;
mod power;
mod pre_auth;
mod refund;
mod reversal;
mod sale;
mod settlement;
mod sign_in;
