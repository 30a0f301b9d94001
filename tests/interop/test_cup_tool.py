#!/usr/bin/env python3
"""Self-check of cup_tool.py (no pytest): `python3 test_cup_tool.py`.

Exits non-zero if any check fails; the last line is "N passed, N failed".
"""

import json
import os
import subprocess
import sys
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from Crypto.Cipher import DES, DES3  # noqa: E402

import cup_tool as t  # noqa: E402

TOOL = os.path.join(HERE, "cup_tool.py")
MAK = bytes.fromhex("0123456789ABCDEF")
TMK8 = bytes.fromhex("1122334455667788")
TMK16 = bytes.fromhex("11223344556677888877665544332211")
PIK8 = bytes.fromhex("FEDCBA9876543210")
PIK16 = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
TDK16 = bytes.fromhex("00112233445566778899AABBCCDDEEFF")
TPDU = "6000030000"
HEADER = "603100000001"

_results = []


def check(fn):
    try:
        fn()
        _results.append((fn.__name__, None))
        print(f"ok   {fn.__name__}")
    except Exception:  # noqa: BLE001
        _results.append((fn.__name__, traceback.format_exc()))
        print(f"FAIL {fn.__name__}\n{traceback.format_exc()}")
    return fn


def eq(a, b, what=""):
    if a != b:
        raise AssertionError(f"{what}: {a!r} != {b!r}")


def run(args, stdin=""):
    p = subprocess.run(
        [sys.executable, TOOL] + args,
        input=stdin,
        capture_output=True,
        text=True,
        cwd="/",
    )
    return p.returncode, p.stdout.strip(), p.stderr


def h(s):
    """hex with spaces/newlines -> bytes"""
    return bytes.fromhex("".join(s.split()))


def roundtrip(msg, mak=None):
    """JSON -> frame -> JSON and frame -> JSON -> frame, in-process and CLI."""
    frame = t.encode_message(dict(msg), mak)
    back = t.decode_frame(frame)
    want = dict(msg)
    if mak is not None:
        want["64"] = back["64"]
    eq(back, want, "decode(encode(msg))")
    eq(t.encode_message(back), frame, "encode(decode(frame))")
    # key order: tpdu, header, mti, fields ascending numerically
    keys = list(back)
    eq(keys[:3], ["tpdu", "header", "mti"], "key order")
    eq(keys[3:], sorted(keys[3:], key=int), "field order")
    # the same through the command line
    rc, out, err = run(["decode"], frame.hex())
    eq((rc, err), (0, ""), "cli decode")
    eq(out, t.dumps(back), "cli decode json")
    args = ["encode"] + (["--mak", mak.hex()] if mak else [])
    rc, out, err = run(args, json.dumps(msg))
    eq((rc, err), (0, ""), "cli encode")
    eq(out, frame.hex().upper(), "cli encode hex")
    if mak is not None:
        rc, out, _ = run(["mac", "--mak", mak.hex()], frame.hex())
        eq((rc, out), (0, back["64"]), "cli mac")
    return frame, back


# ---------------------------------------------------------------------------
# DES anchors: make sure pycryptodome's DES is the DES we think it is
# ---------------------------------------------------------------------------


@check
def des_known_answers():
    # FIPS 81 / classic example: key 0123456789ABCDEF, "Now is t"
    c = DES.new(MAK, DES.MODE_ECB)
    eq(c.encrypt(b"Now is t").hex().upper(), "3FA40E8A984D4815", "DES KAT")
    # well-known check value of 0123456789ABCDEF
    eq(t.kcv(MAK).hex().upper(), "D5D44FF7", "kcv 8")
    # single DES in a 16-byte slot == single DES (pycryptodome refuses it as
    # 3DES, the tool falls back to DES)
    eq(t.kcv(MAK + MAK).hex().upper(), "D5D44FF7", "kcv 16 repeated")
    k16 = PIK16
    want = DES3.new(k16, DES3.MODE_ECB).encrypt(bytes(8))[:4]
    # EDE2 by hand: E(K1, D(K2, E(K1, 0)))
    k1 = DES.new(k16[:8], DES.MODE_ECB)
    k2 = DES.new(k16[8:], DES.MODE_ECB)
    ede = k1.encrypt(k2.decrypt(k1.encrypt(bytes(8))))
    eq(want, ede[:4], "EDE2 by hand")
    eq(t.kcv(k16), want, "kcv 16")


# ---------------------------------------------------------------------------
# field encodings from the brief
# ---------------------------------------------------------------------------


def _single_field_body(num, value, decoded=None):
    msg = {"tpdu": TPDU, "header": HEADER, "mti": "0200", str(num): value}
    frame = t.encode_message(msg)
    want = dict(msg, **{str(num): value if decoded is None else decoded})
    eq(t.decode_frame(frame), want, f"F{num} round trip")
    return frame[2 + 11 + 2 + 8 :]  # after length, TPDU, header, MTI, bitmap


@check
def brief_field_examples():
    eq(_single_field_body(2, "6222021234567890123"), h("19 62 22 02 12 34 56 78 90 12 30"), "F2")
    eq(_single_field_body(2, "6222021234567890"), h("16 62 22 02 12 34 56 78 90"), "F2 even")
    eq(_single_field_body(60, "22000001000"), h("00 11 22 00 00 01 00 00"), "F60")
    eq(
        _single_field_body(35, "6222021234567890123=30121010000000"),
        h("34 62 22 02 12 34 56 78 90 12 3D 30 12 10 10 00 00 00"),
        "F35",
    )
    # odd-length track: trailing pad nibble 0
    eq(_single_field_body(35, "6222021234567890=3012101"), h("24 62 22 02 12 34 56 78 90 D3 01 21 01"), "F35 even")
    eq(_single_field_body(35, "622202123456789=3012101"), h("23 62 22 02 12 34 56 78 9D 30 12 10 10"), "F35 odd")
    eq(_single_field_body(36, "996222021234567890123=1561560000000000000"), h("00 41 99 62 22 02 12 34 56 78 90 12 3D 15 61 56 00 00 00 00 00 00 00"), "F36: 41 digits, 21 bytes")
    eq(_single_field_body(22, "021"), h("02 10"), "F22 left-justified")
    eq(_single_field_body(23, "001"), h("00 01"), "F23 right-justified")
    eq(_single_field_body(4, "000000001000"), h("00 00 00 00 10 00"), "F4")
    eq(_single_field_body(32, "48020000"), h("08 48 02 00 00"), "F32")
    # fixed text: shorter input is space-padded; JSON carries the padding
    eq(_single_field_body(41, "T01", "T01     "), b"T01     ", "F41 space padding")
    eq(_single_field_body(44, "ABC 123"), h("07") + b"ABC 123", "F44 LLVAR bytes")
    eq(_single_field_body(63, "001"), h("00 03") + b"001", "F63 LLLVAR bytes")
    eq(_single_field_body(52, "1A2B3C4D5E6F7081"), h("1A2B3C4D5E6F7081"), "F52")
    eq(_single_field_body(55, "9F2701800A"), h("00 05 9F 27 01 80 0A"), "F55 LLL counts bytes")
    eq(_single_field_body(48, "123"), h("00 03 12 30"), "F48")


# ---------------------------------------------------------------------------
# the MAC algorithm, one known vector worked out step by step
# ---------------------------------------------------------------------------


@check
def mac_known_vector():
    # Message: 0200 with F3 310000, F11 000123, F25 00, F41 "12345678",
    # F42 "123456789012345", F49 "156", F60 "01000001000", F64; MAK
    # 0123456789ABCDEF.  Bitmap: bits 3,11,25,41,42,49,60,64 ->
    # 20 20 00 80 00 C0 80 11.
    #
    # MAC input = MTI .. last byte before F64 (51 bytes), assembled by hand:
    mac_input = h(
        "02 00"                                       # MTI
        "20 20 00 80 00 C0 80 11"                     # bitmap (bit 64 set)
        "31 00 00"                                    # F3  n6
        "00 01 23"                                    # F11 n6
        "00"                                          # F25 n2
        "31 32 33 34 35 36 37 38"                     # F41 ans8
        "31 32 33 34 35 36 37 38 39 30 31 32 33 34 35"  # F42 ans15
        "31 35 36"                                    # F49 an3
        "00 11 01 00 00 01 00 00"                     # F60 LLL=0011, 11 digits + pad 0
    )
    eq(len(mac_input), 51, "MAC input length")
    # 8-byte blocks (the last one zero-padded: 51 -> 56 bytes):
    #   B1 02 00 20 20 00 80 00 C0
    #   B2 80 11 31 00 00 00 01 23
    #   B3 00 31 32 33 34 35 36 37
    #   B4 38 31 32 33 34 35 36 37
    #   B5 38 39 30 31 32 33 34 35
    #   B6 31 35 36 00 11 01 00 00
    #   B7 01 00 00 00 00 00 00 00   (01 00 00 + 5 pad zeros)
    # running XOR:
    #   B1                = 02 00 20 20 00 80 00 C0
    #   ^B2               = 82 11 11 20 00 80 01 E3
    #   ^B3               = 82 20 23 13 34 B5 37 D4
    #   ^B4               = BA 11 11 20 00 80 01 E3
    #   ^B5               = 82 28 21 11 32 B3 35 D6
    #   ^B6               = B3 1D 17 11 23 B2 35 D6
    #   ^B7            R  = B2 1D 17 11 23 B2 35 D6
    # R as 16 uppercase hex ASCII chars: "B21D171123B235D6"
    #   first 8  "B21D1711" = 42 32 31 44 31 37 31 31
    #   last 8   "23B235D6" = 32 33 42 32 33 35 44 36
    # E1 = DES(MAK, "B21D1711")           = C7 1F CF D9 EF A2 2B CE
    # X  = E1 ^ "23B235D6"                = F5 2C 8D EB DC 97 6F F8
    # E2 = DES(MAK, X)                    = E4 89 75 34 CB 24 F0 4A
    # E2 as hex ASCII "E4897534CB24F04A"; F64 = first 8 chars "E4897534"
    #   = 45 34 38 39 37 35 33 34
    padded = mac_input + bytes(5)
    blocks = [padded[i : i + 8] for i in range(0, 56, 8)]
    eq(blocks[6], h("01 00 00 00 00 00 00 00"), "B7")
    acc = bytes(8)
    running = []
    for b in blocks:
        acc = bytes(x ^ y for x, y in zip(acc, b))
        running.append(acc.hex().upper())
    eq(
        running,
        [
            "02002020008000C0",
            "82111120008001E3",
            "8220231334B537D4",
            "BA111120008001E3",
            "8228211132B335D6",
            "B31D171123B235D6",
            "B21D171123B235D6",
        ],
        "running XOR",
    )
    r_ascii = b"B21D171123B235D6"
    des = DES.new(MAK, DES.MODE_ECB)
    e1 = des.encrypt(r_ascii[:8])
    eq(e1, h("C7 1F CF D9 EF A2 2B CE"), "E1")
    x = bytes(a ^ b for a, b in zip(e1, r_ascii[8:]))
    eq(x, h("F5 2C 8D EB DC 97 6F F8"), "X")
    e2 = des.encrypt(x)
    eq(e2, h("E4 89 75 34 CB 24 F0 4A"), "E2")
    eq(t.pos_ecb_mac(MAK, mac_input), b"E4897534", "pos_ecb_mac")
    eq(t.pos_ecb_mac(MAK + MAK, mac_input), b"E4897534", "16-byte MAK slot")

    # the tool builds the same message and F64
    msg = {
        "tpdu": TPDU, "header": HEADER, "mti": "0200", "3": "310000",
        "11": "000123", "25": "00", "41": "12345678", "42": "123456789012345",
        "49": "156", "60": "01000001000",
    }
    frame = t.encode_message(msg, MAK)
    eq(frame, h("00 46" + TPDU + HEADER) + mac_input + b"E4897534", "encoded frame")
    eq(t.decode_frame(frame)["64"], "4534383937353334", "F64 in JSON")
    rc, out, _ = run(["mac", "--mak", "0123456789ABCDEF"], frame.hex())
    eq((rc, out), (0, "4534383937353334"), "cli mac ok")
    # a multiple of 8 is not padded: MAC over exactly 8 bytes == one block
    eight = h("08 00 00 00 00 00 00 01")
    r_hex = eight.hex().upper().encode()
    e = des.encrypt(bytes(a ^ b for a, b in zip(des.encrypt(r_hex[:8]), r_hex[8:])))
    eq(t.pos_ecb_mac(MAK, eight), e.hex().upper().encode()[:8], "no pad when len%8==0")


# ---------------------------------------------------------------------------
# message round trips
# ---------------------------------------------------------------------------

SALE = {
    "tpdu": TPDU,
    "header": HEADER,
    "mti": "0200",
    "2": "6222021234567890123",
    "3": "000000",
    "4": "000000001000",
    "11": "000001",
    "14": "3012",
    "22": "051",
    "23": "001",
    "25": "00",
    "26": "12",
    "35": "6222021234567890123=30121010000000",
    "41": "12345678",
    "42": "123456789012345",
    "49": "156",
    "52": "1A2B3C4D5E6F7081",
    "53": "2600000000000000",
    "55": "9F260811223344556677889F270180",
    "60": "22000001000",
}


@check
def sale_round_trip():
    frame, back = roundtrip(SALE, MAK)
    # hand layout of the sale, F64 excluded
    want = h(
        "60 00 03 00 00  60 31 00 00 00 01  02 00"
        "70 24 06 C0 20 C0 9A 11"                    # bitmap
        "19 62 22 02 12 34 56 78 90 12 30"           # F2
        "00 00 00"                                   # F3
        "00 00 00 00 10 00"                          # F4
        "00 00 01"                                   # F11
        "30 12"                                      # F14
        "05 10"                                      # F22 (left-justified)
        "00 01"                                      # F23
        "00"                                         # F25
        "12"                                         # F26
        "34 62 22 02 12 34 56 78 90 12 3D 30 12 10 10 00 00 00"  # F35
        "31 32 33 34 35 36 37 38"                    # F41
        "31 32 33 34 35 36 37 38 39 30 31 32 33 34 35"  # F42
        "31 35 36"                                   # F49
        "1A 2B 3C 4D 5E 6F 70 81"                    # F52
        "26 00 00 00 00 00 00 00"                    # F53
        "00 15 9F 26 08 11 22 33 44 55 66 77 88 9F 27 01 80"  # F55
        "00 11 22 00 00 01 00 00"                    # F60
    )
    eq(frame[2:-8], want, "sale layout")
    eq(int.from_bytes(frame[:2], "big"), len(want) + 8, "length prefix")
    eq(t.pos_ecb_mac(MAK, want[11:]).hex().upper(), back["64"], "sale F64")
    # tampering is detected
    bad = bytearray(frame)
    bad[30] ^= 0x01
    rc, out, _ = run(["mac", "--mak", MAK.hex()], bad.hex())
    eq(rc, 1, "mac mismatch exit code")
    eq(out, t.pos_ecb_mac(MAK, bytes(bad[13:-8])).hex().upper(), "mac prints the correct F64")


@check
def sign_in_0800_0810_round_trip():
    req = {
        "tpdu": TPDU, "header": "603100000001", "mti": "0800",
        "11": "000001", "41": "12345678", "42": "123456789012345",
        "60": "00000001003", "63": "001",
    }
    roundtrip(req)
    for mode, tmk, pik, mak, tdk, size in (
        ("001", TMK8, PIK8, MAK, None, 24),
        ("003", TMK16, PIK16, MAK, None, 40),
        ("004", TMK16, PIK16, MAK, TDK16, 60),
    ):
        f62 = t.sign_in_f62(tmk, mode, pik, mak, tdk)
        eq(len(f62), size, f"F62 size mode {mode}")
        # independent check: decrypt under the TMK, compare check values
        if mode == "001":
            c = DES.new(tmk, DES.MODE_ECB)
            eq(c.decrypt(f62[0:8]), pik, "001 PIK")
            eq(f62[8:12], DES.new(pik, DES.MODE_ECB).encrypt(bytes(8))[:4], "001 PIK cv")
            eq(c.decrypt(f62[12:20]), mak, "001 MAK")
            eq(f62[20:24], h("D5D44FF7"), "001 MAK cv")
        else:
            c = DES3.new(tmk, DES3.MODE_ECB)
            eq(c.decrypt(f62[0:16]), pik, f"{mode} PIK")
            eq(f62[16:20], DES3.new(pik, DES3.MODE_ECB).encrypt(bytes(8))[:4], f"{mode} PIK cv")
            eq(c.decrypt(f62[20:36]), mak + mak, f"{mode} MAK repeated in 16-byte slot")
            eq(f62[36:40], h("D5D44FF7"), f"{mode} MAK cv (single DES)")
            if mode == "004":
                eq(c.decrypt(f62[40:56]), tdk, "004 TDK")
                eq(f62[56:60], DES3.new(tdk, DES3.MODE_ECB).encrypt(bytes(8))[:4], "004 TDK cv")
        args = ["keys", "--tmk", tmk.hex(), "--mode", mode, "--pik", pik.hex(), "--mak", mak.hex()]
        if tdk:
            args += ["--tdk", tdk.hex()]
        rc, out, err = run(args)
        eq((rc, out, err), (0, f62.hex().upper(), ""), f"cli keys {mode}")
        resp = {
            "tpdu": "6000000003", "header": "603100000001", "mti": "0810",
            "11": "000001", "12": "101530", "13": "0521", "32": "48020000",
            "37": "000000000001", "39": "00", "41": "12345678",
            "42": "123456789012345", "60": "000000010" + mode,
            "62": f62.hex().upper(),
        }
        frame, _ = roundtrip(resp)
        eq(frame[-(len(f62) + 2) :], bytes.fromhex(f"{len(f62):04d}") + f62, f"F62 LLL prefix mode {mode}")


@check
def settlement_0500_0510_round_trip():
    # F48: 5 x (n12 amount + n3 count) ... the codec only sees digits
    f48 = "000000010000003" + "000000000000000" + "0" + "000000000000000000000000000000" + "0"
    req = {
        "tpdu": TPDU, "header": HEADER, "mti": "0500",
        "11": "000020", "41": "12345678", "42": "123456789012345",
        "48": f48, "49": "156", "60": "00000001201", "63": "01 ",
    }
    frame, back = roundtrip(req, MAK)
    eq(len(f48) % 2, 0, "f48 even")
    odd48 = f48 + "1"
    req_odd = dict(req, **{"48": odd48})
    frame_odd, _ = roundtrip(req_odd, MAK)
    resp = {
        "tpdu": "6000000003", "header": HEADER, "mti": "0510",
        "11": "000020", "12": "235959", "13": "1231", "15": "1231",
        "32": "48020000", "37": "123456789012", "39": "00",
        "41": "12345678", "42": "123456789012345", "44": "SETTLED",
        "48": odd48, "49": "156", "54": "1002156C000000010000",
        "60": "00000001201", "61": "000001000020", "63": "CUP",
    }
    roundtrip(resp, MAK)


# ---------------------------------------------------------------------------
# errors: exit 2, one line on stderr
# ---------------------------------------------------------------------------


def _expect_error(args, stdin, what):
    rc, out, err = run(args, stdin)
    eq(rc, 2, f"{what}: exit code")
    eq(out, "", f"{what}: stdout")
    eq(err.count("\n"), 1, f"{what}: one line on stderr: {err!r}")


@check
def errors():
    good = t.encode_message(SALE, MAK)
    gh = good.hex()
    _expect_error(["decode"], "", "empty")
    _expect_error(["decode"], "ZZ", "not hex")
    _expect_error(["decode"], gh[:-2], "length mismatch")
    _expect_error(["decode"], gh + "00", "extra byte")
    # bit 1 set
    b = bytearray(good); b[15] |= 0x80
    _expect_error(["decode"], b.hex(), "bit 1")
    # field 5 set (not in the table)
    b = bytearray(good); b[15] |= 0x08
    _expect_error(["decode"], b.hex(), "unknown field")
    # non-decimal nibble in F3 (n6), at offset 2+11+2+8+11
    b = bytearray(good); b[34] = 0x0A
    _expect_error(["decode"], b.hex(), "hex in n")
    # odd F2: pad nibble must be 0 (last byte of F2 is offset 33: 30 -> 3F)
    b = bytearray(good); b[33] = 0x3F
    _expect_error(["decode"], b.hex(), "pad nibble")
    # TPDU id
    b = bytearray(good); b[2] = 0x61
    _expect_error(["decode"], b.hex(), "tpdu id")
    # track with an E nibble
    msg35 = t.encode_message({"tpdu": TPDU, "header": HEADER, "mti": "0200", "35": "1234=5678"})
    b = bytearray(msg35); b[-2] = 0xE5
    _expect_error(["decode"], b.hex(), "z nibble E")
    base = {"tpdu": TPDU, "header": HEADER, "mti": "0200"}
    for what, extra in (
        ("n letters", {"3": "00000A"}),
        ("n too short", {"3": "0000"}),
        ("n var too long", {"2": "1" * 20}),
        ("z bad char", {"35": "1234D5678"}),
        ("unknown field", {"5": "000000000000"}),
        ("bitmap field", {"1": "00"}),
        ("ans too long", {"41": "123456789"}),
        ("non-ascii", {"63": "\u00e9"}),
        ("b odd hex", {"55": "ABC"}),
        ("b fixed short", {"52": "00"}),
        ("number not string", {"4": 1000}),
    ):
        _expect_error(["encode"], json.dumps(dict(base, **extra)), what)
    _expect_error(["encode"], json.dumps(dict(base, mti="02A0")), "mti")
    _expect_error(["encode"], json.dumps(dict(base, tpdu="60000300")), "tpdu len")
    _expect_error(["encode"], json.dumps(dict(base, header="602200000001")), "header")
    _expect_error(["encode"], "{", "bad json")
    _expect_error(["encode", "--mak", "0123"], json.dumps(base), "short mak")
    _expect_error(["mac", "--mak", "00112233445566778899AABBCCDDEEFF"], gh, "16-byte 3DES MAK")
    _expect_error(["kcv", "--key", "0011"], "", "kcv key length")
    _expect_error(["keys", "--tmk", TMK16.hex(), "--mode", "001", "--pik", PIK8.hex(), "--mak", MAK.hex()], "", "001 with 16-byte TMK")
    _expect_error(["keys", "--tmk", TMK16.hex(), "--mode", "004", "--pik", PIK8.hex(), "--mak", MAK.hex()], "", "004 without tdk")
    _expect_error(["keys", "--tmk", TMK16.hex(), "--mode", "002", "--pik", PIK8.hex(), "--mak", MAK.hex()], "", "mode 002")
    _expect_error(["nothing"], "", "bad command")
    # a frame without F64: mac prints the F64 to append and exits 1
    no64 = t.encode_message(dict(SALE))
    rc, out, _ = run(["mac", "--mak", MAK.hex()], no64.hex())
    eq(rc, 1, "no F64 exit code")
    eq(out, t.decode_frame(t.encode_message(dict(SALE), MAK))["64"], "no F64 -> MAC to append")
    # encode --mak ignores a given "64"; without --mak it is copied as is
    rc, out, _ = run(["encode", "--mak", MAK.hex()], json.dumps(dict(SALE, **{"64": "0000000000000000"})))
    eq((rc, out), (0, good.hex().upper()), "--mak ignores 64")
    rc, out, _ = run(["encode"], json.dumps(dict(SALE, **{"64": "0000000000000000"})))
    eq(rc, 0, "64 as given")
    eq(out[-16:], "0000000000000000", "64 as given value")
    # whitespace and lower case in the frame hex are accepted
    spaced = " ".join(gh[i : i + 2] for i in range(0, len(gh), 2)).lower() + "\n"
    rc, out, _ = run(["decode"], spaced)
    eq((rc, out), (0, t.dumps(t.decode_frame(good))), "spaced hex")


def main():
    failed = [n for n, e in _results if e]
    passed = len(_results) - len(failed)
    print(f"{passed} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
