//! Answers built from a frame that decoded but is not a complete message:
//! the typed messages cannot hold it, so the answer echoes what it can.

use crate::iso8583::mac::MacKey;
use crate::iso8583::response_code::ResponseCode;
use crate::iso8583::{Frame, Header, Message, Mti};
use crate::time::{Calendar, Instant};
use crate::wire::SOFTWARE_VERSION;

/// Fields a sender needs to match an answer to its request.
const ECHOED_FIELDS: [u8; 9] = [2, 3, 4, 11, 25, 41, 42, 49, 60];

/// The frame answering `request` with `code` (30, format error), or `None`
/// when the request is itself an answer or does not say who sent it (field
/// 11, 41 or 42 missing): such a frame is dropped.
pub(crate) fn echo_answer(
    request: &Frame,
    code: ResponseCode,
    now: Instant,
    calendar: &Calendar,
    mak: &MacKey,
) -> Option<Vec<u8>> {
    let mti = request.message.mti();
    if mti.is_response() || ![11, 41, 42].iter().all(|field| request.message.has(*field)) {
        return None;
    }
    let answer_mti = Mti::new(mti.response().value())?;
    let mut message = Message::new(answer_mti);
    for field in ECHOED_FIELDS {
        if let Some(value) = request.message.get(field) {
            // The value passed the field table on the way in, so it fits on the way out.
            message.set(field, value).ok()?;
        }
    }
    message.set_number(12, calendar.time_of_day(now).number()).ok()?;
    message.set_number(13, calendar.month_day(now).number()).ok()?;
    message.set(39, code.as_bytes()).ok()?;
    let mut frame =
        Frame { tpdu: request.tpdu.reply(), header: Header::new(SOFTWARE_VERSION), message };
    let mut out = Vec::with_capacity(128);
    mak.seal(&mut frame, &mut out);
    Some(out)
}
