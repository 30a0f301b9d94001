#!/usr/bin/env python3
"""Self-check of `py_terminal.py --operator` with no possim: `python3 test_py_operator.py`.

A fake possim plays both sides: a TCP host answering with cup_tool-encoded
frames (and withholding, declining, corrupting answers as each check
needs), and the operator script fed on the terminal's stdin. Every wait
has a deadline. Exits non-zero if any check fails; the last line is
"N passed, N failed".
"""

import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from cup_tool import _cipher, decode_frame, encode_message, sign_in_f62, verify_mac  # noqa: E402

TMK = bytes.fromhex("0123456789ABCDEF")
PIK = bytes.fromhex("1C1C1C1C1C1C1C1C")
MAK = bytes.fromhex("2A2A2A2A2A2A2A2A")
TMK16 = bytes.fromhex("00112233445566778899AABBCCDDEEFF")
PIK16 = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
MAK16 = bytes.fromhex("2A2A2A2A2A2A2A2A3B3B3B3B3B3B3B3B")
TDK16 = bytes.fromhex("4C4C4C4C4C4C4C4C5D5D5D5D5D5D5D5D")
TPDU = "6000030000"
HEADER = "603100310001"
MERCHANT = "898100000000001"
PAN = "6222020000000001"
RESPONSE_TIMEOUT_MS = 300
WAIT_S = 10
FRAME_BYTES_MAX = 4096

_results = []


def check(fn):
    try:
        fn()
        _results.append((fn.__name__, None))
        print(f"ok   {fn.__name__}", flush=True)
    except Exception:  # noqa: BLE001
        _results.append((fn.__name__, traceback.format_exc()))
        print(f"FAIL {fn.__name__}\n{traceback.format_exc()}", flush=True)


class FakeHost:
    """Answers the terminal. `policy(msg, nth)` picks the fault for a
    request (nth: how many requests of that MTI from that terminal, from 1):
    None (answer 00), {"39": code}, {"drop": True}, {"bad_mac": True},
    {"header": hex}, {"flag": "2"} (settlement not balanced)."""

    def __init__(self, policy=lambda msg, nth: None, key_mode="001"):
        self.policy = policy
        if key_mode == "004":
            self.f62 = sign_in_f62(TMK16, "004", PIK16, MAK16, TDK16)
            # The POS ECB MAC is single DES under the MAK's first half.
            self.mak = MAK16[:8]
        else:
            self.f62 = sign_in_f62(TMK, "001", PIK, MAK)
            self.mak = MAK
        self.seen = []  # every decoded request, in arrival order
        self.cond = threading.Condition()
        self.counts = {}
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.listener.settimeout(0.2)
        self.address = "127.0.0.1:%d" % self.listener.getsockname()[1]
        self.closing = False
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while not self.closing:
            try:
                conn, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    def serve(self, conn):
        buffer = b""
        conn.settimeout(0.2)
        while not self.closing:
            try:
                chunk = conn.recv(FRAME_BYTES_MAX)
            except socket.timeout:
                continue
            except OSError:
                return
            if not chunk:
                return
            buffer += chunk
            while len(buffer) >= 2 and len(buffer) >= int.from_bytes(buffer[:2], "big") + 2:
                length = int.from_bytes(buffer[:2], "big") + 2
                frame, buffer = buffer[:length], buffer[length:]
                answer = self.answer(frame)
                if answer is not None:
                    try:
                        conn.sendall(answer)
                    except OSError:
                        return

    def answer(self, frame):
        msg = decode_frame(frame)
        msg["mac_ok"] = "64" in msg and verify_mac(frame, self.mak)[1]
        key = (msg["41"], msg["mti"])
        with self.cond:
            self.counts[key] = self.counts.get(key, 0) + 1
            nth = self.counts[key]
            self.seen.append(msg)
            self.cond.notify_all()
        fault = self.policy(msg, nth) or {}
        if fault.get("drop"):
            return None
        mti = msg["mti"]
        out = {"tpdu": TPDU, "header": fault.get("header", HEADER),
               "mti": f"{int(mti) + 10:04d}", "11": msg["11"], "41": msg["41"],
               "42": msg["42"]}
        mac = None
        if mti == "0800":
            out.update({"39": "00", "60": msg["60"], "62": self.f62.hex()})
        elif mti in ("0200", "0100", "0400", "0220"):
            for field in ("2", "3", "4", "25", "49", "60"):
                if field in msg:
                    out[field] = msg[field]
            out.update({"13": "1207", "37": "000000000%03d" % nth, "38": "AUTH%02d" % nth,
                        "39": fault.get("39", "00")})
            mac = self.mak
        elif mti == "0500":
            out.update({"48": msg["48"][:30] + fault.get("flag", "1"), "49": "156",
                        "60": msg["60"]})
        elif mti in ("0320", "0820"):
            out.update({"39": fault.get("39", "00"), "60": msg["60"]})
        else:
            return None
        frame = encode_message(out, mac)
        if fault.get("bad_mac"):
            frame = frame[:-1] + bytes([frame[-1] ^ 0x01])
        return frame

    def requests(self, terminal):
        """(MTI, STAN, F39 or None, F60) of each request from `terminal`."""
        with self.cond:
            return [(m["mti"], m["11"], m.get("39"), m.get("60")) for m in self.seen
                    if m["41"] == terminal]

    def wait_for(self, terminal, mti):
        deadline = time.monotonic() + WAIT_S
        with self.cond:
            while not any(m["41"] == terminal and m["mti"] == mti for m in self.seen):
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"the host never saw {mti} from {terminal}"
                self.cond.wait(remaining)

    def close(self):
        self.closing = True
        self.listener.close()


class Run:
    """One `py_terminal.py --operator` process and the script fed to it."""

    def __init__(self, host, flags=(), hello=True):
        self.proc = subprocess.Popen(
            [sys.executable, "py_terminal.py", "--operator", *flags], cwd=HERE,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.answers = queue.Queue()
        self.log = []
        self.seq = 0
        threading.Thread(target=self.pump, args=(self.proc.stdout, self.answers.put),
                         daemon=True).start()
        threading.Thread(target=self.pump, args=(self.proc.stderr, self.log.append),
                         daemon=True).start()
        if hello:
            self.send({"op": "hello", "protocol": 1, "listen": host.address})

    @staticmethod
    def pump(stream, sink):
        for line in stream:
            sink(line)

    def send(self, obj):
        self.send_line(json.dumps(obj))

    def send_line(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def expect(self):
        try:
            line = self.answers.get(timeout=WAIT_S)
        except queue.Empty:
            raise AssertionError(f"no answer within {WAIT_S} s; log:\n{''.join(self.log)}")
        return json.loads(line)

    def case(self, case_id, terminal, **extra):
        self.send({"op": "case", "case": case_id, "title": "t", "terminal": terminal,
                   "merchant": MERCHANT, "tmk": TMK.hex().upper(), "key_mode": "001",
                   "response_timeout_ms": RESPONSE_TIMEOUT_MS,
                   "cards": [{"pan": PAN, "pin": "123456"}], **extra})
        got = self.expect()
        assert got == {"ready": case_id}, got
        self.case_id = case_id

    def start(self, action, **fields):
        self.seq += 1
        self.send({"op": "do", "seq": self.seq, "case": self.case_id, "action": action,
                   "deadline_ms": 60000, **fields})
        return self.seq

    def do(self, action, **fields):
        seq = self.start(action, **fields)
        got = self.expect()
        assert got == {"ack": seq, "result": "done"}, (got, "".join(self.log))
        return got

    def sale(self, amount_fen=1000):
        return self.do("sale", card=PAN, amount_fen=amount_fen)

    def end(self):
        self.send({"op": "end", "case": self.case_id, "verdict": "pass", "why": ""})

    def bye(self):
        self.send({"op": "bye", "compliant": True, "passed": 1, "failed": 0, "not_exercised": 0})
        return self.finish()

    def finish(self):
        try:
            code = self.proc.wait(timeout=WAIT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError("the terminal did not exit")
        time.sleep(0.05)  # let the stderr pump drain
        return code


def mtis(requests):
    return [mti for mti, *_ in requests]


# --- the scenarios every variant runs; each returns what the terminal did --

def scenario_withheld(run, host):
    """The first sale's answer never comes: is it reversed (98) before the next sale?"""
    run.case("T-W", "TW000001")
    run.sale()
    run.sale()
    run.end()
    seen = host.requests("TW000001")
    reversals = [r for r in seen if r[0] == "0400"]
    if reversals:
        assert reversals[0][1:3] == ("000002", "98"), seen
        assert mtis(seen) == ["0800", "0200", "0400", "0200"], seen
        assert seen[3][1] == "000003", seen  # the reversal reuses the sale's STAN
    else:
        assert mtis(seen) == ["0800", "0200", "0200"], seen
    return bool(reversals)


def scenario_decline(run, host):
    """The first sale is declined 51: is anything reversed?"""
    run.case("T-D", "TD000001")
    run.sale()
    run.sale()
    run.end()
    seen = host.requests("TD000001")
    assert mtis(seen).count("0200") == 2, seen
    return "0400" in mtis(seen)


def scenario_77(run, host):
    """The first sale is answered 77: does a sign-in come before the next?"""
    run.case("T-S", "TS000001")
    run.sale()
    run.sale()
    run.end()
    seen = host.requests("TS000001")
    # 77 is a decline: only --reverse-declines reverses it; that is not what this judges.
    return [mti for mti in mtis(seen) if mti != "0400"] == ["0800", "0200", "0800", "0200"]


def scenario_power(run, host):
    """Power cut after the first sale's request left: is it reversed after power-on?"""
    run.case("T-P", "TP000001")
    sale = run.start("sale", card=PAN, amount_fen=1000)
    host.wait_for("TP000001", "0200")
    cut = run.start("power_off")
    acks = {json.dumps(run.expect(), sort_keys=True), json.dumps(run.expect(), sort_keys=True)}
    assert acks == {json.dumps({"ack": sale, "result": "done"}, sort_keys=True),
                    json.dumps({"ack": cut, "result": "done"}, sort_keys=True)}, acks
    run.do("power_on")
    run.sale()
    run.end()
    seen = host.requests("TP000001")
    # The STAN counter and the session survive: no new sign-in, STAN 3 next.
    assert mtis(seen)[:2] == ["0800", "0200"] and mtis(seen)[-1] == "0200", seen
    assert seen[-1][1] == "000003", seen
    reversals = [r for r in seen if r[0] == "0400"]
    if reversals:
        assert reversals == [("0400", "000002", "98", "22000001000")], seen
    return bool(reversals)


def variant_policy(msg, nth):
    if msg["mti"] != "0200" or nth != 1:
        return None
    return {"TW000001": {"drop": True}, "TD000001": {"39": "51"},
            "TS000001": {"39": "77"}, "TP000001": {"drop": True}}.get(msg["41"])


def behaviours(flags):
    host = FakeHost(variant_policy)
    run = Run(host, flags)
    try:
        found = {
            "reverses a withheld answer": scenario_withheld(run, host),
            "reverses a decline": scenario_decline(run, host),
            "signs in again after 77": scenario_77(run, host),
            "a stored reversal survives a power cut": scenario_power(run, host),
        }
        code = run.bye()
        assert code == 0, (code, "".join(run.log))
        return found
    finally:
        if run.proc.poll() is None:
            run.proc.kill()
        host.close()


GOOD = {
    "reverses a withheld answer": True,
    "reverses a decline": False,
    "signs in again after 77": True,
    "a stored reversal survives a power cut": True,
}


def expect_variant(flags, changed):
    found = behaviours(flags)
    want = {**GOOD, **changed}
    assert found == want, f"{flags}: found {found}, want {want}"


# --- checks ------------------------------------------------------------------

def test_hello_case_ready_do_ack_flow():
    host = FakeHost()
    run = Run(host)
    try:
        run.case("T-1", "T1000001")
        run.sale(1234)
        run.do("echo")
        run.do("sign_off")
        run.sale(100)
        seq = run.start("reprint_by_stan", stan=2)
        got = run.expect()
        assert got["ack"] == seq and got["result"] == "unsupported" and got["why"], got
        run.end()
        run.case("T-2", "T2000001")  # a fresh terminal: STAN from 1 again
        run.sale(1)
        assert run.bye() == 0, "".join(run.log)
        seen = host.requests("T1000001")
        assert mtis(seen) == ["0800", "0200", "0820", "0820", "0800", "0200"], seen
        assert [s for _, s, _, _ in seen] == ["%06d" % n for n in range(1, 7)], seen
        assert seen[2][3] == "00000001301" and seen[3][3] == "00000001002", seen
        assert all(m["mac_ok"] for m in host.seen if m["mti"] == "0200"), host.seen
        first_sale = next(m for m in host.seen if m["mti"] == "0200")
        assert first_sale["4"] == "000000001234" and "52" in first_sale, first_sale
        assert [s for _, s, _, _ in host.requests("T2000001")] == ["000001", "000002"]
    finally:
        host.close()


def test_key_mode_004_signs_in_and_macs():
    host = FakeHost(key_mode="004")
    run = Run(host)
    try:
        run.case("T-4", "T4000001", key_mode="004", tmk=TMK16.hex().upper())
        run.sale(1234)
        assert run.bye() == 0, "".join(run.log)
        seen = [m for m in host.seen if m["41"] == "T4000001"]
        assert [m["mti"] for m in seen] == ["0800", "0200"], seen
        assert seen[0]["60"] == "00000001004" and seen[1]["mac_ok"], seen
        # The PIN block is 3DES under the double-length PIK.
        clear = _cipher(PIK16).decrypt(bytes.fromhex(seen[1]["52"])).hex().upper()
        account = int("0000" + PAN[-13:-1], 16)
        assert f"{int(clear, 16) ^ account:016X}" == "06123456FFFFFFFF", clear
    finally:
        host.close()


def test_good_terminal():
    expect_variant([], {})


def test_no_reversal_never_reverses():
    expect_variant(["--no-reversal"], {"reverses a withheld answer": False,
                                       "a stored reversal survives a power cut": False})


def test_reverse_declines_reverses_declines():
    expect_variant(["--reverse-declines"], {"reverses a decline": True})


def test_ignore_77_does_not_sign_in_again():
    expect_variant(["--ignore-77"], {"signs in again after 77": False})


def test_reversal_in_ram_is_lost_by_a_power_cut():
    expect_variant(["--reversal-in-ram"], {"a stored reversal survives a power cut": False})


def single_fault_run(fault, second="sale"):
    """Sale 1 meets `fault`, then one more action; the requests the host saw."""
    host = FakeHost(lambda msg, nth: fault if msg["mti"] == "0200" and nth == 1 else None)
    run = Run(host)
    try:
        run.case("T-F", "TF000001")
        run.sale()
        if second == "sale":
            run.sale()
        else:
            run.do(second)
        assert run.bye() == 0, "".join(run.log)
        return host.requests("TF000001")
    finally:
        host.close()


def test_bad_mac_answer_is_reversed_a0():
    seen = single_fault_run({"bad_mac": True})
    assert mtis(seen) == ["0800", "0200", "0400", "0200"], seen
    assert seen[2][1:3] == ("000002", "A0"), seen


def test_bare_94_is_not_a_verdict():
    seen = single_fault_run({"39": "94"})
    assert mtis(seen) == ["0800", "0200", "0400", "0200"], seen
    assert seen[2][1:3] == ("000002", "98"), seen


def test_send_pending_sends_the_reversal_now():
    seen = single_fault_run({"drop": True}, second="send_pending")
    assert mtis(seen) == ["0800", "0200", "0400"], seen


def test_header_3_signs_in_again():
    seen = single_fault_run({"header": "603103310001"})
    assert mtis(seen) == ["0800", "0200", "0800", "0200"], seen


def test_reversal_retried_to_its_bound_and_blocks_the_trade():
    host = FakeHost(lambda msg, nth: {"drop": True} if msg["mti"] in ("0200", "0400")
                    and (msg["mti"] == "0400" or nth == 1) else None)
    run = Run(host)
    try:
        run.case("T-R", "TR000001")
        run.sale()
        run.sale()
        assert run.bye() == 0, "".join(run.log)
        seen = host.requests("TR000001")
        assert mtis(seen) == ["0800", "0200", "0400", "0400", "0400"], seen
    finally:
        host.close()


def test_a0_to_a_reversal_signs_in_again_before_the_next_try():
    # The sale's answer is lost; the reversal's first try is answered A0 (a
    # MAC garbled on the way): sign in, then the reversal again, then the sale.
    host = FakeHost(lambda msg, nth: {"drop": True} if msg["mti"] == "0200" and nth == 1
                    else {"39": "A0"} if msg["mti"] == "0400" and nth == 1 else None)
    run = Run(host)
    try:
        run.case("T-A", "TA000001")
        run.sale()
        run.sale()
        assert run.bye() == 0, "".join(run.log)
        seen = host.requests("TA000001")
        assert mtis(seen) == ["0800", "0200", "0400", "0800", "0400", "0200"], seen
        assert seen[4][1:3] == ("000002", "98"), seen
    finally:
        host.close()


def test_unbalanced_settlement_uploads_the_batch_and_ends_202():
    host = FakeHost(lambda msg, nth: {"flag": "2"} if msg["mti"] == "0500" else None)
    run = Run(host)
    try:
        run.case("T-U", "TU000001")
        run.sale(1000)
        run.sale(2000)
        run.do("void")
        run.do("settle")
        run.sale(500)
        assert run.bye() == 0, "".join(run.log)
        seen = [m for m in host.seen if m["41"] == "TU000001"]
        assert [m["mti"] for m in seen] == ["0800", "0200", "0200", "0200", "0500", "0320",
                                            "0320", "0200"], [m["mti"] for m in seen]
        void = seen[3]
        assert void["3"] == "200000" and void["61"] == "000001000003", void
        assert void["37"] == "000000000002", void
        assert seen[4]["48"] == "000000003000002000000002000001" + "0", seen[4]["48"]
        upload, end = seen[5], seen[6]
        assert upload["48"].startswith("03") and len(upload["48"]) == 2 + 3 * 40, upload
        assert upload["60"] == "00000001201", upload
        assert end["48"] == "0003" and end["60"] == "00000001202", end
        assert seen[7]["60"] == "22000002000", seen[7]  # batch + 1
    finally:
        host.close()


def test_95_to_the_upload_end_uploads_again():
    def policy(msg, nth):
        if msg["mti"] == "0500":
            return {"flag": "2"}
        if msg["mti"] == "0320" and msg["60"].endswith("202") and nth == 2:
            return {"39": "95"}
        return None

    host = FakeHost(policy)
    run = Run(host)
    try:
        run.case("T-N", "TN000001")
        run.sale(1000)
        run.do("settle")
        run.sale(500)
        assert run.bye() == 0, "".join(run.log)
        seen = host.requests("TN000001")
        assert [(m, f60[-3:]) for m, _, _, f60 in seen] == [
            ("0800", "001"), ("0200", "000"), ("0500", "201"), ("0320", "201"), ("0320", "202"),
            ("0320", "201"), ("0320", "202"), ("0200", "000")], seen
        assert seen[-1][3] == "22000002000", seen
    finally:
        host.close()


def test_refund_is_an_advice_sent_again_until_acknowledged():
    host = FakeHost(lambda msg, nth: {"drop": True} if msg["mti"] == "0220" and nth == 1
                    else None)
    run = Run(host)
    try:
        run.case("T-A", "TA000001")
        run.sale(1000)
        run.do("settle")
        run.do("refund", card=PAN, amount_fen=400)  # answer lost
        run.do("send_pending")  # the same 0220 again, answered
        run.do("send_pending")  # nothing left
        run.do("settle")
        assert run.bye() == 0, "".join(run.log)
        seen = [m for m in host.seen if m["41"] == "TA000001"]
        assert [(m["mti"], m["11"]) for m in seen] == [
            ("0800", "000001"), ("0200", "000002"), ("0500", "000003"), ("0220", "000004"),
            ("0220", "000004"), ("0500", "000005")], [(m["mti"], m["11"]) for m in seen]
        refund = seen[3]
        assert refund["3"] == "200000" and refund["60"] == "25000002000", refund
        assert refund["37"] == "000000000001" and refund["61"] == "0000000000001207", refund
        assert refund["mac_ok"], refund
        # The refund is in the batch: one credit of 400.
        assert seen[5]["48"] == "000000000000000" + "000000000400001" + "0", seen[5]["48"]
    finally:
        host.close()


def test_offline_sales_are_uploaded_before_settlement_and_94_counts():
    # The first upload of stan 1 is answered 98 (deferred), the second 94.
    host = FakeHost(lambda msg, nth: {"39": {1: "98", 3: "94"}[nth]}
                    if msg["mti"] == "0220" and nth in (1, 3) else None)
    run = Run(host)
    try:
        run.case("T-O", "TO000001")
        run.do("offline_sale", card=PAN, amount_fen=2000)
        run.do("send_pending")
        run.do("offline_sale", card=PAN, amount_fen=3000)
        run.do("settle")
        assert run.bye() == 0, "".join(run.log)
        seen = [m for m in host.seen if m["41"] == "TO000001"]
        assert [(m["mti"], m["11"]) for m in seen] == [
            ("0800", "000002"), ("0220", "000001"), ("0220", "000001"), ("0220", "000003"),
            ("0500", "000004")], [(m["mti"], m["11"]) for m in seen]
        assert seen[1]["60"] == "30000001000" and "12" in seen[1] and "13" in seen[1], seen[1]
        assert seen[4]["48"] == "000000005000002" + "000000000000000" + "0", seen[4]["48"]
    finally:
        host.close()


def test_batch_upload_cut_by_the_power_resumes_at_power_on():
    def policy(msg, nth):
        if msg["mti"] == "0500":
            return {"flag": "2"}
        if msg["mti"] == "0320" and nth == 1:
            return {"drop": True}
        return None

    host = FakeHost(policy)
    run = Run(host)
    try:
        run.case("T-C", "TC000001", response_timeout_ms=30000)
        run.sale(1000)
        run.sale(2000)
        settle = run.start("settle")
        host.wait_for("TC000001", "0320")
        cut = run.start("power_off")
        acks = sorted((run.expect()["ack"], run.expect()["ack"]))
        assert acks == [settle, cut], acks
        run.do("power_on")  # resumes the upload: no new 0500
        run.sale(500)
        assert run.bye() == 0, "".join(run.log)
        seen = host.requests("TC000001")
        assert [(m, s, f60[-3:]) for m, s, _, f60 in seen] == [
            ("0800", "000001", "001"), ("0200", "000002", "000"), ("0200", "000003", "000"),
            ("0500", "000004", "201"), ("0320", "000005", "201"), ("0320", "000006", "201"),
            ("0320", "000007", "202"), ("0200", "000008", "000")], seen
        assert seen[-1][3] == "22000002000", seen
    finally:
        host.close()


def test_lost_settlement_answer_keeps_the_batch():
    host = FakeHost(lambda msg, nth: {"drop": True} if msg["mti"] == "0500" and nth == 1
                    else None)
    run = Run(host)
    try:
        run.case("T-L", "TL000001")
        run.sale()
        run.do("settle")
        run.do("settle")
        run.sale()
        assert run.bye() == 0, "".join(run.log)
        seen = [m for m in host.seen if m["41"] == "TL000001"]
        settlements = [m for m in seen if m["mti"] == "0500"]
        assert [m["60"] for m in settlements] == ["00000001201"] * 2, settlements
        assert all(m["48"][12:15] == "001" for m in settlements), settlements
        assert seen[-1]["60"] == "22000002000", seen[-1]
    finally:
        host.close()


def test_void_of_another_batch_and_a_full_journal_are_refused():
    host = FakeHost()
    run = Run(host)
    try:
        run.case("T-V", "TV000001", journal_max=2)
        run.sale(1000)
        run.do("settle")
        run.do("void", batch=1, stan=2, amount_fen=1000)  # batch 1 is settled
        run.sale(2000)
        run.do("void", batch=2, stan=4, amount_fen=2000)
        run.sale(3000)  # the journal holds 2: settle first
        assert run.bye() == 0, "".join(run.log)
        seen = host.requests("TV000001")
        assert [(m, s) for m, s, _, _ in seen] == [
            ("0800", "000001"), ("0200", "000002"), ("0500", "000003"), ("0200", "000004"),
            ("0200", "000005")], seen
        assert seen[4][3] == "23000002000", seen
    finally:
        host.close()


def test_an_action_ends_by_its_deadline():
    """With a 30 s response timeout and a 1.5 s deadline the sale must be
    acked within WAIT_S (10 s): the terminal stopped waiting, so the sale is
    uncertain and reversed before the next one."""
    host = FakeHost(lambda msg, nth: {"drop": True} if msg["mti"] == "0200" and nth == 1
                    else None)
    run = Run(host)
    try:
        run.case("T-D", "TK000001", response_timeout_ms=30000)
        run.do("sale", card=PAN, amount_fen=1000, deadline_ms=1500)
        run.sale()
        assert run.bye() == 0, "".join(run.log)
        seen = host.requests("TK000001")
        assert mtis(seen) == ["0800", "0200", "0400", "0200"], seen
    finally:
        host.close()


def test_stan_wraps_and_survives_a_power_cut():
    host = FakeHost()
    run = Run(host)
    try:
        run.case("T-Z", "TZ000001", stan_start=999998)
        run.sale()
        run.sale()
        run.do("power_off")
        run.do("power_on")
        run.sale()
        assert run.bye() == 0, "".join(run.log)
        stans = [s for _, s, _, _ in host.requests("TZ000001")]
        assert stans == ["999998", "999999", "000001", "000002"], stans
    finally:
        host.close()


def test_protocol_errors_exit_2_with_one_line():
    host = FakeHost()
    try:
        for hello, line in ((True, "{not json"), (True, '{"op":"case"}'),
                            (True, '{"op":"weird"}'), (False, '{"op":"case","case":"X"}'),
                            (True, '{"op":"do","seq":1,"action":"sale"}'),
                            (True, '{"op":"case","case":"X","terminal":"T","merchant":"M",'
                                   '"tmk":"0123456789ABCDEF","response_timeout_ms":"soon"}')):
            run = Run(host, hello=hello)
            run.send_line(line)
            code = run.finish()
            assert code == 2, (line, code, run.log)
            assert len(run.log) == 1 and run.log[0].startswith("operator script: line "), run.log
        run = Run(host)
        run.case("T-E", "TE000001")
        run.send({"op": "do", "seq": 1, "action": "sale", "amount_fen": 5})  # no card
        assert run.finish() == 2, run.log
        assert "without a card" in run.log[-1], run.log
    finally:
        host.close()


def main() -> int:
    for fn in (
        test_hello_case_ready_do_ack_flow,
        test_key_mode_004_signs_in_and_macs,
        test_good_terminal,
        test_no_reversal_never_reverses,
        test_reverse_declines_reverses_declines,
        test_ignore_77_does_not_sign_in_again,
        test_reversal_in_ram_is_lost_by_a_power_cut,
        test_bad_mac_answer_is_reversed_a0,
        test_bare_94_is_not_a_verdict,
        test_send_pending_sends_the_reversal_now,
        test_header_3_signs_in_again,
        test_a0_to_a_reversal_signs_in_again_before_the_next_try,
        test_reversal_retried_to_its_bound_and_blocks_the_trade,
        test_unbalanced_settlement_uploads_the_batch_and_ends_202,
        test_95_to_the_upload_end_uploads_again,
        test_refund_is_an_advice_sent_again_until_acknowledged,
        test_offline_sales_are_uploaded_before_settlement_and_94_counts,
        test_batch_upload_cut_by_the_power_resumes_at_power_on,
        test_lost_settlement_answer_keeps_the_batch,
        test_void_of_another_batch_and_a_full_journal_are_refused,
        test_an_action_ends_by_its_deadline,
        test_stan_wraps_and_survives_a_power_cut,
        test_protocol_errors_exit_2_with_one_line,
    ):
        check(fn)
    failed = [n for n, e in _results if e]
    passed = len(_results) - len(failed)
    print(f"{passed} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
