//! `possim drive`.
use std::path::PathBuf;
use anyhow::Result;
use clap::Args;
#[derive(Debug, Args)]
pub struct DriveArgs {
    pub scenario: PathBuf,
}
pub fn run(_args: DriveArgs) -> Result<u8> { Ok(2) }
