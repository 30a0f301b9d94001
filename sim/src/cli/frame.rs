//! `possim frame`: decode, encode and MAC-check captured CUP POS frames.
//!
//! Input is a hex argument, or stdin: hex text (white space ignored) or the
//! raw frame bytes. Raw frames never look like hex text, since their first
//! byte is the high byte of a length under 2048 (0x00 to 0x07).

use std::io::{Read, Write};

use anyhow::{anyhow, Context, Result};
use clap::{Args, Subcommand};
use possim_models::iso8583::cup::CupMessage;
use possim_models::iso8583::describe::parts;
use possim_models::iso8583::keys::DesKey;
use possim_models::iso8583::mac::{MacCheck, MacKey};
use possim_models::iso8583::spec::{field_spec, Alphabet};
use possim_models::iso8583::{hex, Frame};
use possim_sim::frame_json;

use super::exit;

#[derive(Debug, Subcommand)]
pub enum FrameCommand {
    /// Print a frame field by field (or as JSON with --json).
    Decode {
        /// The frame as hex; read from stdin when absent.
        hex: Option<String>,
        /// One JSON object: field numbers as keys, values as they travel.
        #[arg(long)]
        json: bool,
    },
    /// Read the JSON of `decode --json` on stdin and print the frame as hex.
    Encode {
        /// Compute field 64 with this MAK (8 bytes of hex) instead of copying it.
        #[arg(long)]
        mak: Option<String>,
    },
    /// Compute a frame's MAC and check its field 64; exit 1 if it is wrong.
    Mac(MacArgs),
}

#[derive(Debug, Args)]
pub struct MacArgs {
    /// The MAC key, 8 bytes of hex (or 16 whose halves are equal).
    #[arg(long)]
    mak: String,
    /// The frame as hex; read from stdin when absent.
    hex: Option<String>,
}

/// An input error: exit 2 with one line.
#[derive(Debug)]
pub struct InputError(pub String);

/// Bad input, as an error the binary exits 2 on.
pub fn input(message: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!(InputError(message.to_string()))
}

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for InputError {}

fn input_error(message: impl Into<String>) -> anyhow::Error {
    anyhow!(InputError(message.into()))
}

/// The most input `possim frame` reads from stdin, in bytes. A frame is at
/// most 2048 bytes ([`FRAME_BYTES_MAX`](possim_models::iso8583::frame::FRAME_BYTES_MAX)),
/// 4096 hex digits, and its JSON a few times that: 64 KiB leaves room for
/// any white space a hex dump adds. Stdin is read no further than one byte
/// past it, so `< /dev/zero` ends with exit 2 instead of filling the memory.
pub const FRAME_INPUT_BYTES_MAX: u64 = 64 * 1024;

/// All of stdin, refused past [`FRAME_INPUT_BYTES_MAX`].
fn read_stdin() -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let max = FRAME_INPUT_BYTES_MAX;
    std::io::stdin().lock().take(max + 1).read_to_end(&mut bytes).context("reading stdin")?;
    if bytes.len() as u64 > max {
        return Err(input_error(format!(
            "stdin is longer than the bound FRAME_INPUT_BYTES_MAX = {max} bytes"
        )));
    }
    Ok(bytes)
}

fn read_frame_bytes(argument: Option<String>) -> Result<Vec<u8>> {
    let raw = match argument {
        Some(text) => text.into_bytes(),
        None => read_stdin()?,
    };
    let looks_like_hex = raw.iter().all(|b| b.is_ascii_hexdigit() || b.is_ascii_whitespace());
    if looks_like_hex {
        let text = std::str::from_utf8(&raw).expect("ASCII checked");
        hex::decode(text).map_err(|error| input_error(format!("hex input: {error}")))
    } else {
        Ok(raw)
    }
}

fn decode_frame(bytes: &[u8]) -> Result<(Frame, Option<std::ops::Range<usize>>)> {
    Frame::decode_with_mac_span(bytes).map_err(|error| input_error(format!("frame: {error}")))
}

fn mac_key(text: &str) -> Result<MacKey> {
    let key = DesKey::from_hex(text).map_err(|error| input_error(format!("--mak: {error}")))?;
    if let DesKey::Double(bytes) = key {
        if bytes[..8] != bytes[8..] {
            return Err(input_error(
                "--mak: the POS ECB MAC uses single DES; give 8 bytes (or 16 with equal halves)",
            ));
        }
    }
    Ok(MacKey::new(key.first_half()))
}

pub fn run(command: FrameCommand) -> Result<u8> {
    let mut out = std::io::stdout().lock();
    match command {
        FrameCommand::Decode { hex: argument, json } => {
            let bytes = read_frame_bytes(argument)?;
            let (frame, _) = decode_frame(&bytes)?;
            if json {
                writeln!(out, "{}", frame_json::to_json(&frame))?;
            } else {
                print_frame(&mut out, &bytes, &frame)?;
            }
            Ok(exit::PASS)
        }
        FrameCommand::Encode { mak } => {
            let text = String::from_utf8(read_stdin()?)
                .map_err(|error| input_error(format!("json input: {error}")))?;
            let json: serde_json::Value = serde_json::from_str(&text)
                .map_err(|error| input_error(format!("json input: {error}")))?;
            let mut frame = frame_json::from_json(&json)
                .map_err(|error| input_error(format!("json input: {error}")))?;
            let mut wire = Vec::new();
            match mak {
                Some(key) => mac_key(&key)?.seal(&mut frame, &mut wire),
                None => frame.encode(&mut wire),
            }
            writeln!(out, "{}", hex::encode_upper(&wire))?;
            Ok(exit::PASS)
        }
        FrameCommand::Mac(MacArgs { mak, hex: argument }) => {
            let key = mac_key(&mak)?;
            let bytes = read_frame_bytes(argument)?;
            let (frame, span) = decode_frame(&bytes)?;
            match key.verify(&bytes, span, &frame) {
                MacCheck::Valid => {
                    let mac = frame.message.get(64).expect("a valid MAC is present");
                    writeln!(out, "mac ok: {}", hex::encode_upper(mac))?;
                    Ok(exit::PASS)
                }
                MacCheck::Wrong { received, computed } => {
                    writeln!(
                        out,
                        "mac wrong: field 64 is {}, the key gives {}",
                        hex::encode_upper(&received),
                        hex::encode_upper(&computed)
                    )?;
                    Ok(exit::FAIL)
                }
                MacCheck::Missing => {
                    let mut sealed = frame.clone();
                    let mut wire = Vec::new();
                    key.seal(&mut sealed, &mut wire);
                    let mac = sealed.message.get(64).expect("sealed");
                    writeln!(
                        out,
                        "mac missing: the frame has no field 64; it would be {}",
                        hex::encode_upper(mac)
                    )?;
                    Ok(exit::FAIL)
                }
            }
        }
    }
}

fn print_frame(out: &mut impl Write, bytes: &[u8], frame: &Frame) -> Result<()> {
    let header = &frame.header;
    writeln!(out, "length   {} bytes follow", bytes.len() - 2)?;
    writeln!(
        out,
        "tpdu     {}  id {:02X}, destination {:04X}, source {:04X}",
        hex::encode_upper(&frame.tpdu.to_bytes()),
        frame.tpdu.id,
        frame.tpdu.destination,
        frame.tpdu.source
    )?;
    let requirement = match header.processing.0 {
        0 => "none",
        1 => "download parameters",
        2 => "upload status",
        3 => "sign in again",
        _ => "other",
    };
    writeln!(
        out,
        "header   {}  application {:02X}, version {:02X}, terminal status {}, processing requirement {} ({}), software version {:06}",
        hex::encode_upper(&header.to_bytes()),
        header.application,
        header.version,
        header.terminal_status,
        header.processing.0,
        requirement,
        header.software_version
    )?;
    let message = &frame.message;
    let kind = match CupMessage::parse(message) {
        Ok(typed) => describe_kind(&typed),
        Err(error) => format!("not a complete CUP message: {error}"),
    };
    writeln!(out, "mti      {}  {}", message.mti(), kind)?;
    let present: Vec<String> = message.fields().map(|(field, _)| field.to_string()).collect();
    writeln!(out, "bitmap   {:016X}  fields {}", message.bitmap(), present.join(" "))?;
    for (field, value) in message.fields() {
        let spec = field_spec(field).expect("decoded fields are in the table");
        let shown = if spec.alphabet == Alphabet::Binary {
            let mut text = hex::encode_upper(value);
            if field == 64 && value.iter().all(|b| b.is_ascii_graphic()) {
                text.push_str(&format!(" ({:?})", String::from_utf8_lossy(value)));
            }
            text
        } else {
            format!("{:?}", String::from_utf8_lossy(value))
        };
        writeln!(out, "  {:>2}  {:<38} {:<13} {}", field, spec.name, spec.format_label(), shown)?;
        for (label, part) in parts(message, field) {
            writeln!(out, "        {label:<36} {part}")?;
        }
    }
    Ok(())
}

fn describe_kind(message: &CupMessage) -> String {
    match message {
        CupMessage::Network(m) => format!("network request {:?}", m.code),
        CupMessage::NetworkAnswer(m) => {
            format!("network answer {:?}, response {}", m.code, m.response_code)
        }
        CupMessage::Trade(m) => format!("{} request", m.kind().label()),
        CupMessage::TradeAnswer(m) if m.reversal => {
            format!(
                "reversal answer ({}), response {} {}",
                m.kind.label(),
                m.response_code,
                m.response_code.meaning()
            )
        }
        CupMessage::TradeAnswer(m) => {
            format!(
                "{} answer, response {} {}",
                m.kind.label(),
                m.response_code,
                m.response_code.meaning()
            )
        }
        CupMessage::Reversal(m) => {
            format!(
                "reversal of a {}, reason {} {}",
                m.original().kind().label(),
                m.reason,
                m.reason.meaning()
            )
        }
        CupMessage::Settlement(_) => "settlement request".into(),
        CupMessage::SettlementAnswer(m) => format!("settlement answer, {:?}", m.result),
        CupMessage::BatchUpload(m) => format!("batch upload, {} trades", m.detail.entries.len()),
        CupMessage::BatchUploadEnd(m) => {
            format!(
                "batch upload end, {}",
                if m.balanced { "balanced (207)" } else { "not balanced (202)" }
            )
        }
        CupMessage::BatchUploadAnswer(m) => {
            format!("batch upload answer, response {}", m.response_code)
        }
    }
}

/// Whether `error` is bad input (exit 2) rather than a failure of the tool.
pub fn is_input_error(error: &anyhow::Error) -> bool {
    error.downcast_ref::<InputError>().is_some()
}
