#!/usr/bin/env python3
"""A small independent CUP POS terminal, on pyiso8583 (through cup_tool.py),
for pre-checking `possim serve` end to end with code that is not possim's.

It signs in (0800, key mode 001), unwraps the MAC key from F62 under its TMK,
buys (0200 sale with a MAC), and when the answer does not come within its
timeout sends the reversal (0400, reason 98, the sale's STAN) until the host
acknowledges it (00, 12 or 25), then settles (0500 with its batch totals).

Usage:
  py_terminal.py --host 127.0.0.1 --port PORT --terminal T0000001 \\
      --merchant 898100000000001 --tmk 0123456789ABCDEF \\
      --pan 6222020000000001 [--amount 1234] [--timeout-ms 2000] [--no-reversal]

`--no-reversal` switches the reversal off: the terminal settles straight
after the lost sale, the bug `possim serve` must catch. Prints one line per
message; exits 0 when the conversation went through, 2 on a usage or
protocol error.

Operator mode (`possim certify --serve ADDR --operator json`; the protocol
in py_operator.py, the terminal and what survives a power cut in
op_terminal.py):
  py_terminal.py --operator [--no-reversal] [--reverse-declines]
      [--ignore-77] [--reversal-in-ram]
"""

import argparse
import socket
import sys
import time

from Crypto.Cipher import DES

from cup_tool import CupError, decode_frame, encode_message, kcv, verify_mac

TPDU = "6000030000"
HEADER = "603100310001"
ACKNOWLEDGED = ("00", "12", "25")


class Terminal:
    def __init__(self, args):
        self.args = args
        self.sock = socket.create_connection((args.host, args.port), timeout=5)
        self.buffer = b""
        self.stan = 0
        self.batch = 1
        self.mak = None

    def next_stan(self) -> str:
        self.stan += 1
        return f"{self.stan:06d}"

    def send(self, msg: dict, mac: bool = False) -> None:
        frame = encode_message(msg, self.mak if mac else None)
        print(f"-> {msg['mti']} stan {msg.get('11')}", flush=True)
        self.sock.sendall(frame)

    def receive(self, timeout_ms: int):
        """The next frame as (JSON dict, bytes), or None after timeout_ms."""
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            if len(self.buffer) >= 2:
                length = int.from_bytes(self.buffer[:2], "big") + 2
                if len(self.buffer) >= length:
                    frame, self.buffer = self.buffer[:length], self.buffer[length:]
                    msg = decode_frame(frame)
                    print(f"<- {msg['mti']} stan {msg.get('11')} code {msg.get('39')}", flush=True)
                    return msg, frame
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(4096)
            except socket.timeout:
                return None
            if not chunk:
                raise CupError("the host closed the connection")
            self.buffer += chunk

    def answer_to(self, stan: str, timeout_ms: int):
        """The answer with this STAN; others are stale and skipped."""
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            remaining_ms = int((deadline - time.monotonic()) * 1000)
            if remaining_ms <= 0:
                return None
            got = self.receive(remaining_ms)
            if got is None:
                return None
            if got[0].get("11") == stan:
                return got

    def ids(self) -> dict:
        return {"41": self.args.terminal, "42": self.args.merchant}

    def sign_in(self) -> None:
        stan = self.next_stan()
        msg = {"tpdu": TPDU, "header": HEADER, "mti": "0800", "11": stan, **self.ids(),
               "60": f"00{self.batch:06d}001", "63": "01 "}
        self.send(msg)
        got = self.answer_to(stan, self.args.timeout_ms)
        if got is None or got[0].get("39") != "00":
            raise CupError(f"sign-in failed: {got[0] if got else 'no answer'}")
        answer = got[0]
        self.batch = int(answer["60"][2:8])
        keys = bytes.fromhex(answer["62"])
        tmk = bytes.fromhex(self.args.tmk)
        mak = DES.new(tmk, DES.MODE_ECB).decrypt(keys[12:20])
        if kcv(mak) != keys[20:24]:
            raise CupError("the MAK's check value does not match")
        self.mak = mak

    def sale_fields(self, stan: str) -> dict:
        return {"tpdu": TPDU, "header": HEADER, "2": self.args.pan, "3": "000000",
                "4": f"{self.args.amount:012d}", "11": stan, "22": "021", "25": "00",
                **self.ids(), "49": "156", "60": f"22{self.batch:06d}000"}

    def sale(self):
        stan = self.next_stan()
        msg = {**self.sale_fields(stan), "mti": "0200"}
        self.send(msg, mac=True)
        got = self.answer_to(stan, self.args.timeout_ms)
        if got is None:
            print(f"   no answer within {self.args.timeout_ms} ms", flush=True)
            return stan, None
        answer, frame = got
        if "64" in answer and not verify_mac(frame, self.mak)[1]:
            print("   answer MAC wrong", flush=True)
            return stan, None
        return stan, answer.get("39")

    def reverse(self, stan: str) -> None:
        fields = self.sale_fields(stan)
        msg = {**fields, "mti": "0400", "39": "98"}
        for attempt in range(1, 4):
            self.send(msg, mac=True)
            got = self.answer_to(stan, self.args.timeout_ms)
            if got is not None and got[0].get("39") in ACKNOWLEDGED:
                return
            print(f"   reversal try {attempt} not acknowledged", flush=True)
        raise CupError("reversal never acknowledged")

    def settle(self, debits: int, debit_fen: int) -> str:
        stan = self.next_stan()
        totals = f"{debit_fen:012d}{debits:03d}{0:012d}{0:03d}0"
        msg = {"tpdu": TPDU, "header": HEADER, "mti": "0500", "11": stan, **self.ids(),
               "48": totals, "49": "156", "60": f"00{self.batch:06d}201", "63": "01 "}
        self.send(msg)
        got = self.answer_to(stan, self.args.timeout_ms)
        if got is None:
            raise CupError("no settlement answer")
        return got[0]["48"][30]


def operator_main(argv) -> int:
    from py_operator import run_operator

    parser = argparse.ArgumentParser(description="the terminal as possim's certification operator")
    parser.add_argument("--operator", action="store_true", required=True)
    parser.add_argument("--no-reversal", action="store_true", help="never reverses")
    parser.add_argument("--reverse-declines", action="store_true",
                        help="also reverses sales the host declined")
    parser.add_argument("--ignore-77", action="store_true",
                        help="does not sign in again after answer code 77")
    parser.add_argument("--reversal-in-ram", action="store_true",
                        help="keeps the pending reversal in RAM: a power cut loses it")
    return run_operator(parser.parse_args(argv))


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--operator" in argv:
        return operator_main(argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--terminal", required=True)
    parser.add_argument("--merchant", required=True)
    parser.add_argument("--tmk", required=True)
    parser.add_argument("--pan", required=True)
    parser.add_argument("--amount", type=int, default=1234)
    parser.add_argument("--timeout-ms", type=int, default=2000)
    parser.add_argument("--no-reversal", action="store_true")
    parser.add_argument("--operator", action="store_true",
                        help="the operator-script mode instead (--operator --help)")
    args = parser.parse_args(argv)
    try:
        terminal = Terminal(args)
        terminal.sign_in()
        stan, code = terminal.sale()
        debits, debit_fen = 0, 0
        if code is None and not args.no_reversal:
            terminal.reverse(stan)
        elif code == "00":
            debits, debit_fen = 1, args.amount
        flag = terminal.settle(debits, debit_fen)
        print(f"settlement result flag {flag}", flush=True)
        terminal.sock.close()
    except (CupError, OSError) as error:
        print(f"py_terminal: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
