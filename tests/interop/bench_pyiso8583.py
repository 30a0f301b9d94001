#!/usr/bin/env python3
"""Throughput of the pyiso8583-based CUP codec, as a baseline for possim.

    python3 bench_pyiso8583.py [N]      (N iterations, default 100000)

Figure 1, "sale round trips per second": per iteration
    build the 0200 sale (fields 2,3,4,11,14,22,23,25,26,35,41,42,49,52,53,55,
    60,64) -> encode with pyiso8583 + the cup_tool transforms, computing F64
    (POS ECB MAC, pycryptodome DES) -> decode (pyiso8583 + transforms) ->
    verify F64 by recomputing the MAC over the received bytes.
Figure 2, "encode+decode per second": the same sale with a fixed F64, encode
    and decode only, no MAC computed or checked.

Both include the JSON-level validation and transforms of cup_tool.py, i.e.
the work of build + (MAC) + encode + decode + (verify).  A DES key schedule
is created for every MAC, as pycryptodome's DES.new is called per MAC.
"""

import os
import platform
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import Crypto  # noqa: E402
import iso8583  # noqa: E402

import cup_tool as t  # noqa: E402

MAK = bytes.fromhex("0123456789ABCDEF")
PREFIX = 2 + t.PREFIX_LEN  # length + TPDU + header

# a typical ARQC ICC data block (TLV), 141 bytes
F55 = "".join(
    tag + f"{len(val) // 2:02X}" + val
    for tag, val in (
        ("9F26", "1122334455667788"),  # application cryptogram
        ("9F27", "80"),  # cryptogram information data
        ("9F10", "07010103A0A802010A010000000000"),  # issuer application data
        ("9F37", "5A3B2C1D"),  # unpredictable number
        ("9F36", "0010"),  # ATC
        ("95", "0000000000"),  # TVR
        ("9A", "240521"),  # transaction date
        ("9C", "00"),  # transaction type
        ("9F02", "000000001000"),  # amount authorised
        ("5F2A", "0156"),  # currency
        ("82", "7C00"),  # AIP
        ("9F1A", "0156"),  # terminal country
        ("9F03", "000000000000"),  # amount other
        ("9F33", "E0E1C8"),  # terminal capabilities
        ("9F34", "420300"),  # CVM results
        ("9F35", "22"),  # terminal type
        ("9F1E", "3132333435363738"),  # IFD serial
        ("84", "A000000333010101"),  # DF name
        ("9F09", "0020"),  # application version
        ("9F41", "00000001"),  # transaction sequence counter
    )
)


def build_sale(stan: int) -> dict:
    return {
        "tpdu": "6000030000",
        "header": "603100000001",
        "mti": "0200",
        "2": "6222021234567890123",
        "3": "000000",
        "4": "000000001000",
        "11": f"{stan % 1000000:06d}",
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
        "55": F55,
        "60": "22000001000",
    }


def round_trip_with_mac(n: int) -> float:
    start = time.perf_counter()
    for i in range(n):
        msg = build_sale(i)
        frame = t.encode_message(msg, MAK)
        decoded = t.decode_frame(frame)
        mac = t.pos_ecb_mac(MAK, frame[PREFIX:-8])
        if mac.hex().upper() != decoded["64"]:
            raise SystemExit("MAC verification failed")
    return time.perf_counter() - start


def round_trip_no_mac(n: int) -> float:
    start = time.perf_counter()
    for i in range(n):
        msg = build_sale(i)
        msg["64"] = "3132333435363738"
        frame = t.encode_message(msg)
        decoded = t.decode_frame(frame)
        if decoded["11"] != msg["11"]:
            raise SystemExit("decode mismatch")
    return time.perf_counter() - start


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
    if n <= 0:
        raise SystemExit("N must be positive")
    # sanity + warm-up
    frame = t.encode_message(build_sale(1), MAK)
    assert t.verify_mac(frame, MAK)[1]
    round_trip_with_mac(min(n, 1000))
    round_trip_no_mac(min(n, 1000))

    el_mac = round_trip_with_mac(n)
    el_plain = round_trip_no_mac(n)
    print(
        f"python {platform.python_version()} ({platform.python_implementation()}), "
        f"pyiso8583 {iso8583.__version__}, pycryptodome {Crypto.__version__}, "
        f"N={n}, sale frame {len(frame)} bytes"
    )
    print(f"pyiso8583 sale round trips per second: {n / el_mac:.0f}")
    print(f"pyiso8583 sale encode+decode (no MAC) per second: {n / el_plain:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
