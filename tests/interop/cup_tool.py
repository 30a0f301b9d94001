#!/usr/bin/env python3
"""Independent CUP POS ISO 8583 codec (pyiso8583 + pycryptodome) for possim
interop tests.

Usage:
  cup_tool.py decode                       frame hex on stdin -> JSON on stdout
  cup_tool.py encode [--mak HEX]           JSON on stdin -> frame hex on stdout
  cup_tool.py mac --mak HEX                frame hex on stdin -> F64 hex; exit 1 if
                                           the frame's F64 is different/absent
  cup_tool.py keys --tmk HEX --mode 001|003|004 --pik HEX --mak HEX [--tdk HEX]
                                           -> sign-in F62 hex
  cup_tool.py kcv --key HEX                -> 4-byte key check value hex

Errors: exit status 2 and one line on stderr.

The pre/post transforms around pyiso8583 are listed at the top of
cup_spec.py and in README.md; each is marked "TRANSFORM" below.
"""

import argparse
import json
import sys
from typing import Dict, Optional, Tuple

import iso8583
from Crypto.Cipher import DES, DES3

from cup_spec import (
    A,
    B,
    CUP_FIELDS,
    CUP_SPEC,
    HEADER_LEN,
    HEADER_PREFIX,
    N,
    TPDU_ID,
    TPDU_LEN,
    Z,
)

PREFIX_LEN = TPDU_LEN + HEADER_LEN  # 11 bytes carried as pyiso8583 "h"
_HEX = frozenset("0123456789abcdefABCDEF")
_DIGITS = frozenset("0123456789")
_TRACK = frozenset("0123456789=")
_TRACK_WIRE = frozenset("0123456789D")

# field number (str) -> kind / fixed width, precomputed for speed
_KIND: Dict[str, str] = {str(k): v[0] for k, v in CUP_FIELDS.items()}
_FIXED_A_WIDTH: Dict[str, int] = {
    str(k): v[1] for k, v in CUP_FIELDS.items() if v[0] == A and v[2] == 0
}
_ALLOWED_BITMAP = 0
for _f in CUP_FIELDS:
    _ALLOWED_BITMAP |= 1 << (64 - _f)


class CupError(ValueError):
    """Any encode/decode/crypto error; the CLI turns it into exit 2."""


# ---------------------------------------------------------------------------
# hex helpers
# ---------------------------------------------------------------------------


def parse_hex(text: str, what: str = "input") -> bytes:
    s = "".join(text.split())
    if not s or len(s) % 2 or not _HEX.issuperset(s):
        raise CupError(f"{what} is not an even-length hex string")
    return bytes.fromhex(s)


def _is_hex(s: str) -> bool:
    return _HEX.issuperset(s)


# ---------------------------------------------------------------------------
# DES helpers (pycryptodome)
# ---------------------------------------------------------------------------


def _cipher(key: bytes):
    """ECB cipher: 8-byte key = DES, 16-byte key = 3DES-EDE2.

    pycryptodome refuses a 16-byte key whose halves are equal (ignoring
    parity bits) because EDE2 then degenerates to single DES; that case *is*
    single DES under the first half, so it is used directly.
    """
    if len(key) == 8:
        return DES.new(key, DES.MODE_ECB)
    if len(key) == 16:
        try:
            return DES3.new(key, DES3.MODE_ECB)
        except ValueError:
            return DES.new(key[:8], DES.MODE_ECB)
    raise CupError(f"key must be 8 or 16 bytes, got {len(key)}")


def kcv(key: bytes) -> bytes:
    """Key check value: first 4 bytes of E(key, 00..00)."""
    return _cipher(key).encrypt(bytes(8))[:4]


def mac_key(mak: bytes) -> bytes:
    """The 8-byte DES key the POS ECB MAC uses.

    8 bytes: as is.  16 bytes: only the single-DES-in-a-16-byte-slot form
    (second half == first half) is accepted and its first 8 bytes used.
    """
    if len(mak) == 8:
        return mak
    if len(mak) == 16 and mak[:8] == mak[8:]:
        return mak[:8]
    raise CupError("MAK must be 8 bytes (or 16 bytes with both halves equal)")


def pos_ecb_mac(mak: bytes, data: bytes) -> bytes:
    """CUP "POS ECB" MAC over `data` (MTI .. last byte before F64).

    Returns the 8 ASCII bytes that travel in F64.
    """
    key = mac_key(mak)
    # zero-pad to a multiple of 8 and XOR all blocks into R
    if len(data) % 8:
        data = data + bytes(8 - len(data) % 8)
    r = 0
    for i in range(0, len(data), 8):
        r ^= int.from_bytes(data[i : i + 8], "big")
    r_hex = r.to_bytes(8, "big").hex().upper().encode("ascii")  # 16 ASCII
    cipher = DES.new(key, DES.MODE_ECB)
    e1 = cipher.encrypt(r_hex[:8])
    x = bytes(a ^ b for a, b in zip(e1, r_hex[8:]))
    e2 = cipher.encrypt(x)
    return e2.hex().upper().encode("ascii")[:8]


def sign_in_f62(
    tmk: bytes, mode: str, pik: bytes, mak: bytes, tdk: Optional[bytes] = None
) -> bytes:
    """Working keys block of the 0810 sign-in response (F62)."""

    def slot16(key: bytes, name: str) -> bytes:
        if len(key) == 8:
            return key + key  # single DES in a 16-byte slot
        if len(key) == 16:
            return key
        raise CupError(f"{name} must be 8 or 16 bytes")

    if mode == "001":
        if len(tmk) != 8:
            raise CupError("mode 001 needs an 8-byte TMK")
        for key, name in ((pik, "PIK"), (mak, "MAK")):
            if len(key) != 8:
                raise CupError(f"mode 001 needs an 8-byte {name}")
        c = _cipher(tmk)
        return c.encrypt(pik) + kcv(pik) + c.encrypt(mak) + kcv(mak)
    if mode in ("003", "004"):
        if len(tmk) != 16:
            raise CupError(f"mode {mode} needs a 16-byte TMK")
        c = _cipher(tmk)
        pik16, mak16 = slot16(pik, "PIK"), slot16(mak, "MAK")
        out = c.encrypt(pik16) + kcv(pik16) + c.encrypt(mak16) + kcv(mak16)
        if mode == "004":
            if tdk is None:
                raise CupError("mode 004 needs --tdk")
            tdk16 = slot16(tdk, "TDK")
            out += c.encrypt(tdk16) + kcv(tdk16)
        elif tdk is not None:
            raise CupError("--tdk is only used with mode 004")
        return out
    raise CupError(f"unknown sign-in mode {mode!r} (001, 003 or 004)")


# ---------------------------------------------------------------------------
# codec: JSON object <-> frame bytes
# ---------------------------------------------------------------------------


def _check_prefix(tpdu: bytes, header: bytes) -> None:
    if tpdu[0] != TPDU_ID:
        raise CupError(f"TPDU id must be {TPDU_ID:02X}, got {tpdu[0]:02X}")
    if header[:2] != HEADER_PREFIX:
        raise CupError(
            f"header must start with {HEADER_PREFIX.hex().upper()}, "
            f"got {header[:2].hex().upper()}"
        )
    if not _DIGITS.issuperset(header[3:].hex()):
        raise CupError("header software version is not BCD")


def to_pyiso(msg: dict) -> dict:
    """JSON exchange object -> pyiso8583 decoded dict (pre-encode transforms)."""
    if not isinstance(msg, dict):
        raise CupError("JSON input must be an object")
    doc: Dict[str, str] = {}
    tpdu_hex = msg.get("tpdu")
    header_hex = msg.get("header")
    mti = msg.get("mti")
    if not isinstance(tpdu_hex, str) or len(tpdu_hex) != 10 or not _is_hex(tpdu_hex):
        raise CupError('"tpdu" must be 10 hex chars')
    if (
        not isinstance(header_hex, str)
        or len(header_hex) != 12
        or not _is_hex(header_hex)
    ):
        raise CupError('"header" must be 12 hex chars')
    _check_prefix(bytes.fromhex(tpdu_hex), bytes.fromhex(header_hex))
    # TRANSFORM 1: TPDU + header travel as one 11-byte pyiso8583 "h" field
    doc["h"] = tpdu_hex + header_hex
    # TRANSFORM 3: pyiso8583 would take any hex as BCD
    if not isinstance(mti, str) or len(mti) != 4 or not _DIGITS.issuperset(mti):
        raise CupError('"mti" must be 4 digits')
    doc["t"] = mti
    for key, value in msg.items():
        if key in ("tpdu", "header", "mti"):
            continue
        kind = _KIND.get(key)
        if kind is None:
            raise CupError(f"field {key!r} is not in the CUP POS field table")
        if not isinstance(value, str):
            raise CupError(f"field {key} must be a JSON string")
        if kind == N:
            # TRANSFORM 3: digits only
            if not _DIGITS.issuperset(value):
                raise CupError(f"field {key} (n) must contain only digits")
        elif kind == Z:
            # TRANSFORM 2: '=' travels as nibble D; TRANSFORM 3: digits and '='
            if not _TRACK.issuperset(value):
                raise CupError(f"field {key} (z) must contain only digits and '='")
            value = value.replace("=", "D")
        elif kind == A:
            # TRANSFORM 4: fixed text fields are space-padded on the right
            width = _FIXED_A_WIDTH.get(key)
            if width is not None and len(value) < width:
                value = value.ljust(width)
        else:  # B
            if not _is_hex(value):
                raise CupError(f"field {key} (b) must be hex")
        doc[key] = value
    return doc


def encode_message(msg: dict, mak: Optional[bytes] = None) -> bytes:
    """JSON exchange object -> whole frame (with the 2-byte length).

    With `mak`, bit 64 is set and F64 computed (any "64" given is ignored).
    """
    doc = to_pyiso(msg)
    if mak is not None:
        mac_key(mak)  # validate before doing any work
        doc["64"] = "0000000000000000"
    try:
        raw, _ = iso8583.encode(doc, CUP_SPEC)
    except iso8583.EncodeError as e:
        raise CupError(f"encode: {e}") from None
    if mak is not None:
        # F64 is the last field and fixed 8 bytes: MAC = MTI .. raw[-9]
        raw[-8:] = pos_ecb_mac(mak, bytes(raw[PREFIX_LEN:-8]))
    if len(raw) > 0xFFFF:
        raise CupError("message longer than 65535 bytes")
    # TRANSFORM 1: 2-byte big-endian length prefix
    return len(raw).to_bytes(2, "big") + bytes(raw)


def split_frame(frame: bytes) -> bytes:
    """Check the 2-byte length prefix; return the message after it."""
    if len(frame) < 2:
        raise CupError("frame shorter than its 2-byte length")
    n = int.from_bytes(frame[:2], "big")
    if n != len(frame) - 2:
        raise CupError(f"length prefix says {n} bytes, frame has {len(frame) - 2}")
    return frame[2:]


def decode_message(msg: bytes) -> Tuple[dict, dict]:
    """Message after the length prefix -> (JSON exchange object, pyiso doc)."""
    if len(msg) < PREFIX_LEN + 2 + 8:
        raise CupError("message too short for TPDU + header + MTI + bitmap")
    _check_prefix(msg[:TPDU_LEN], msg[TPDU_LEN:PREFIX_LEN])
    # TRANSFORM 5: primary bitmap only, fields of the table only
    bitmap = int.from_bytes(msg[PREFIX_LEN + 2 : PREFIX_LEN + 10], "big")
    if bitmap >> 63:
        raise CupError("bit 1 set: secondary bitmap is not allowed")
    unknown = bitmap & ~_ALLOWED_BITMAP
    if unknown:
        nums = [str(64 - i) for i in range(63, -1, -1) if unknown >> i & 1]
        raise CupError(f"bitmap has fields outside the CUP table: {','.join(nums)}")
    try:
        doc, _ = iso8583.decode(msg, CUP_SPEC)
    except iso8583.DecodeError as e:
        raise CupError(f"decode: {e}") from None
    mti = doc["t"]
    if not _DIGITS.issuperset(mti):  # TRANSFORM 3
        raise CupError(f"MTI {mti} is not BCD")
    h = doc["h"]
    out = {"tpdu": h[: 2 * TPDU_LEN], "header": h[2 * TPDU_LEN :], "mti": mti}
    for key in sorted((k for k in doc if k.isdigit()), key=int):
        value = doc[key]
        kind = _KIND[key]
        if kind == N:
            if not _DIGITS.issuperset(value):  # TRANSFORM 3
                raise CupError(f"field {key} (n) has a non-decimal nibble")
        elif kind == Z:
            # TRANSFORM 2 + 3: nibble D -> '=', nothing else but digits
            if not _TRACK_WIRE.issuperset(value):
                raise CupError(f"field {key} (z) has a nibble other than 0-9 or D")
            value = value.replace("D", "=")
        out[key] = value
    return out, doc


def decode_frame(frame: bytes) -> dict:
    return decode_message(split_frame(frame))[0]


def verify_mac(frame: bytes, mak: bytes) -> Tuple[bytes, bool]:
    """Return (correct F64, whether the frame carries exactly that F64).

    If the frame has no F64 the MAC is computed as it would be with bit 64
    set in the bitmap (the value to append), and the result is False.
    """
    msg = split_frame(frame)
    out, _ = decode_message(msg)
    body = msg[PREFIX_LEN:]
    if "64" in out:
        mac = pos_ecb_mac(mak, body[:-8])
        return mac, mac == body[-8:]
    body = bytearray(body)
    body[9] |= 0x01  # bitmap byte 8 (offset 2 + 7), bit 64
    return pos_ecb_mac(mak, bytes(body)), False


def dumps(obj: dict) -> str:
    """Deterministic compact JSON (as serde_json::to_string writes it):
    keys in insertion order = tpdu, header, mti, fields ascending."""
    return json.dumps(obj, separators=(",", ":"))


# ---------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line on stderr, exit 2
        sys.stderr.write(f"cup_tool: {message}\n")
        sys.exit(2)


def _read_stdin() -> str:
    return sys.stdin.read()


def main(argv=None) -> int:
    p = _Parser(prog="cup_tool.py", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=_Parser)
    sub.add_parser("decode", help="frame hex (stdin) -> JSON")
    pe = sub.add_parser("encode", help="JSON (stdin) -> frame hex")
    pe.add_argument("--mak", help="MAK hex: set bit 64 and compute F64")
    pm = sub.add_parser("mac", help="frame hex (stdin) -> correct F64 hex")
    pm.add_argument("--mak", required=True)
    pk = sub.add_parser("keys", help="sign-in F62 value")
    pk.add_argument("--tmk", required=True)
    pk.add_argument("--mode", required=True, choices=["001", "003", "004"])
    pk.add_argument("--pik", required=True)
    pk.add_argument("--mak", required=True)
    pk.add_argument("--tdk")
    pc = sub.add_parser("kcv", help="key check value")
    pc.add_argument("--key", required=True)
    args = p.parse_args(argv)

    try:
        if args.cmd == "decode":
            frame = parse_hex(_read_stdin(), "frame")
            print(dumps(decode_frame(frame)))
            return 0
        if args.cmd == "encode":
            mak = parse_hex(args.mak, "--mak") if args.mak is not None else None
            try:
                msg = json.loads(_read_stdin())
            except json.JSONDecodeError as e:
                raise CupError(f"invalid JSON: {e}") from None
            if mak is not None and isinstance(msg, dict):
                msg.pop("64", None)
            print(encode_message(msg, mak).hex().upper())
            return 0
        if args.cmd == "mac":
            mak = parse_hex(args.mak, "--mak")
            mac_key(mak)
            frame = parse_hex(_read_stdin(), "frame")
            mac, ok = verify_mac(frame, mak)
            print(mac.hex().upper())
            return 0 if ok else 1
        if args.cmd == "keys":
            tdk = parse_hex(args.tdk, "--tdk") if args.tdk is not None else None
            f62 = sign_in_f62(
                parse_hex(args.tmk, "--tmk"),
                args.mode,
                parse_hex(args.pik, "--pik"),
                parse_hex(args.mak, "--mak"),
                tdk,
            )
            print(f62.hex().upper())
            return 0
        if args.cmd == "kcv":
            print(kcv(parse_hex(args.key, "--key")).hex().upper())
            return 0
    except CupError as e:
        sys.stderr.write(f"cup_tool: {e}\n".replace("\n", " ").rstrip() + "\n")
        return 2
    except Exception as e:  # never a traceback: one line, exit 2
        msg = f"cup_tool: internal error: {type(e).__name__}: {e}"
        sys.stderr.write(msg.replace("\n", " ") + "\n")
        return 2
    return 2


if __name__ == "__main__":
    sys.exit(main())
