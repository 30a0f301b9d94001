"""pyiso8583 specification of the CUP (UnionPay) POS ISO 8583 wire format.

This is the *independent* Python reference used by the interop tests of
possim.  It is deliberately built on pyiso8583 (module ``iso8583``) so that the
Rust codec is checked against a second, unrelated implementation.

What pyiso8583 (4.0.1) expresses natively -- no transform needed
-----------------------------------------------------------------
* MTI as 2 BCD bytes                    -> "t": data_enc "b"
* 8-byte binary primary bitmap           -> "p": data_enc "b", max_len 8
* fixed n, even width (n4, n6, n12, n16) -> data_enc "b", len_count "nibbles"
* fixed n, odd width, right-justified    -> ... plus left_pad "0"   (F23 n3)
* F22 n3 LEFT-justified in 2 bytes       -> ... plus right_pad "0"  ("021" -> 02 10)
* variable n, LEFT-justified, pad 0 at
  the end, prefix counting DIGITS        -> len_enc "bcd", len_count "nibbles",
                                            right_pad "0"
* LL = 1 BCD byte / LLL = 2 BCD bytes    -> len_enc "bcd", len_type 1 / 2
* a / an / ans (ASCII)                   -> data_enc "ascii" (fixed: exact width)
* b fixed (bytes) / b LLLVAR (bytes)     -> data_enc "b", len_count "bytes"
* the pad nibble of odd n / z data must be "0": pyiso8583's decoder rejects
  any other pad value by itself (``_remove_pad_field``).

Rules pyiso8583 cannot express -- done as small pre/post transforms in
cup_tool.py (see README.md for the full list)
-----------------------------------------------------------------------
1. The frame around the ISO message: 2-byte big-endian length prefix (not an
   ISO field at all).  TPDU (5 bytes) + CUP header (6 bytes) are carried by
   pyiso8583 as ONE fixed 11-byte binary "h" field and split/joined by the
   tool into the JSON "tpdu" / "header" members.
2. z (track 2 / track 3) data: '=' must travel as nibble D.  pyiso8583's
   binary/BCD encoding only accepts hex digits, so the tool maps '=' -> 'D'
   before encode and 'D' -> '=' after decode (the fields are otherwise specified
   exactly like variable n: digits counted, left-justified, pad nibble 0).
3. Content checks.  pyiso8583 treats BCD data as hex, so it would silently
   accept "12AB" in an n field, an MTI like "02F0", or any nibble in a track.
   The tool checks: n / MTI = ASCII digits 0-9 only; z = digits and '='
   (on the wire: nibbles 0-9 and D); b = hex.
4. Fixed a/an/ans fields are space-padded on the right.  pyiso8583 only
   checks the exact width, so the tool pads shorter values with spaces on
   encode (decode returns the text as it travels, padding included).
5. Only a primary bitmap is allowed and only the fields of the table below.
   pyiso8583 would read a secondary bitmap when bit 1 is set and add one when
   fields 65+ are present; the tool rejects bit 1 and unknown field numbers
   before calling pyiso8583.
6. Field 64 (MAC) and field 62 key blocks are cryptography (pycryptodome),
   outside the codec.
"""

from typing import Any, Dict

# --- field kinds used by the tool's transforms/validation ------------------
# "n"   numeric BCD (fixed or variable)
# "z"   track data ('=' <-> nibble D)
# "a"   ASCII text (a / an / ans)
# "b"   raw binary, JSON value = uppercase hex
N, Z, A, B = "n", "z", "a", "b"

# field -> (kind, max length, len_type (0 fixed, 1 LL, 2 LLL), description)
# max length counts digits for n/z, bytes for a/b (as on the wire).
CUP_FIELDS = {
    2: (N, 19, 1, "Primary account number n..19 LLVAR"),
    3: (N, 6, 0, "Processing code n6"),
    4: (N, 12, 0, "Amount, transaction n12"),
    11: (N, 6, 0, "System trace audit number n6"),
    12: (N, 6, 0, "Time, local transaction n6 (hhmmss)"),
    13: (N, 4, 0, "Date, local transaction n4 (MMDD)"),
    14: (N, 4, 0, "Date, expiration n4 (YYMM)"),
    15: (N, 4, 0, "Date, settlement n4 (MMDD)"),
    22: (N, 3, 0, "POS entry mode n3 (LEFT-justified, pad nibble 0)"),
    23: (N, 3, 0, "Card sequence number n3 (right-justified)"),
    25: (N, 2, 0, "POS condition code n2"),
    26: (N, 2, 0, "POS PIN capture code n2"),
    32: (N, 11, 1, "Acquiring institution id n..11 LLVAR"),
    35: (Z, 37, 1, "Track 2 data z..37 LLVAR"),
    36: (Z, 104, 2, "Track 3 data z..104 LLLVAR"),
    37: (A, 12, 0, "Retrieval reference number an12"),
    38: (A, 6, 0, "Authorization id response an6"),
    39: (A, 2, 0, "Response code an2"),
    41: (A, 8, 0, "Card acceptor terminal id ans8"),
    42: (A, 15, 0, "Card acceptor id ans15"),
    44: (A, 25, 1, "Additional response data ans..25 LLVAR"),
    48: (N, 322, 2, "Additional data - private n..322 LLLVAR"),
    49: (A, 3, 0, "Currency code, transaction an3"),
    52: (B, 8, 0, "PIN data b64 (8 bytes)"),
    53: (N, 16, 0, "Security related control information n16"),
    54: (A, 20, 2, "Balance amount ans..20 LLLVAR"),
    55: (B, 255, 2, "ICC system related data b..255 LLLVAR"),
    60: (N, 17, 2, "Reserved private n..17 LLLVAR"),
    61: (N, 29, 2, "Original message n..29 LLLVAR"),
    62: (B, 512, 2, "Reserved private b..512 LLLVAR"),
    63: (A, 63, 2, "Reserved private ans..63 LLLVAR"),
    64: (B, 8, 0, "Message authentication code b64 (8 bytes)"),
}

# Fixed n fields that are LEFT-justified (pad nibble at the end).
LEFT_JUSTIFIED_FIXED_N = {22}

TPDU_LEN = 5
HEADER_LEN = 6
# TPDU id byte and the first two header bytes (application type 60, CUP
# software version 31) as the brief defines them.
TPDU_ID = 0x60
HEADER_PREFIX = bytes.fromhex("6031")


def _field_spec(num: int) -> Dict[str, Any]:
    kind, max_len, len_type, desc = CUP_FIELDS[num]
    if kind in (N, Z):
        spec: Dict[str, Any] = {
            "data_enc": "b",
            "len_enc": "bcd",
            "len_type": len_type,
            "len_count": "nibbles",
            "max_len": max_len,
            "desc": desc,
        }
        if len_type == 0:
            if max_len % 2:
                if num in LEFT_JUSTIFIED_FIXED_N:
                    spec["right_pad"] = "0"
                else:
                    spec["left_pad"] = "0"
        else:
            # variable n / z: left-justified, trailing pad nibble 0
            spec["right_pad"] = "0"
        return spec
    if kind == A:
        return {
            "data_enc": "ascii",
            "len_enc": "bcd",
            "len_type": len_type,
            "max_len": max_len,
            "desc": desc,
        }
    # kind == B
    return {
        "data_enc": "b",
        "len_enc": "bcd",
        "len_type": len_type,
        "len_count": "bytes",
        "max_len": max_len,
        "desc": desc,
    }


def build_spec() -> Dict[str, Dict[str, Any]]:
    spec: Dict[str, Dict[str, Any]] = {
        # TPDU (5) + CUP header (6) carried as one fixed binary header.
        "h": {
            "data_enc": "b",
            "len_enc": "bcd",
            "len_type": 0,
            "max_len": TPDU_LEN + HEADER_LEN,
            "desc": "TPDU + CUP header",
        },
        "t": {
            "data_enc": "b",
            "len_enc": "bcd",
            "len_type": 0,
            "max_len": 2,
            "desc": "Message type (BCD)",
        },
        "p": {
            "data_enc": "b",
            "len_enc": "bcd",
            "len_type": 0,
            "max_len": 8,
            "desc": "Primary bitmap",
        },
        # Never used on the wire (bit 1 is rejected), but pyiso8583's pp()
        # and encoder look the key up, so it must exist.
        "1": {
            "data_enc": "b",
            "len_enc": "bcd",
            "len_type": 0,
            "max_len": 8,
            "desc": "Secondary bitmap (not allowed in CUP POS)",
        },
    }
    for num in CUP_FIELDS:
        spec[str(num)] = _field_spec(num)
    return spec


CUP_SPEC = build_spec()
