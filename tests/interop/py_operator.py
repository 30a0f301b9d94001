"""The independent terminal as possim's certification operator: it reads
possim's operator script (JSON Lines, `possim certify --serve ADDR
--operator json`) on stdin, performs each instruction on a small CUP POS
terminal written on pyiso8583 (through cup_tool.py), and answers on stdout.

    mkfifo answers
    possim certify --serve 127.0.0.1:0 --operator json < answers \\
        | python3 py_terminal.py --operator > answers

One line in, one line out (stdout is flushed every line; the log goes to
stderr):

    {"op":"hello","protocol":1,"listen":"127.0.0.1:41234"}   (connect there)
    {"op":"case","case":"CT-04","terminal":"CT040001",...}   -> {"ready":"CT-04"}
    {"op":"do","seq":1,"action":"sale","card":"...",...}     -> {"ack":1,"result":"done"}
    {"op":"end",...}, {"op":"bye",...}                       (exit 0 on bye)

The terminal itself (and what survives a power cut) is op_terminal.py.
Actions run on a worker thread so that a `power_off` can land mid-action:
the power is cut at once, the interrupted action and the power_off are
both acked `done`.

Broken variants, each a bug found in real terminals:
  --no-reversal       never reverses (stores no reversal at all)
  --reverse-declines  also reverses sales the host declined
  --ignore-77         does not sign in again after answer code 77
  --reversal-in-ram   keeps the pending reversal in RAM: a power cut loses it

A line it does not understand: one line on stderr, exit 2.
"""

import copy
import json
import queue
import sys
import threading

from op_terminal import (ADVICES, KINDS, Device, PowerCut, ProtocolError, Terminal, log,
                         new_storage)

PROTOCOL = 1
LINE_BYTES_MAX = 65_536
WORKER_STOP_TIMEOUT_MS = 5_000
LINES_QUEUED_MAX = 64


class Operator:
    """Reads the script, runs actions on a worker thread (so a power cut
    can land mid-action), writes the answers."""

    def __init__(self, flags, stdin, stdout):
        self.flags = flags
        self.stdin = stdin
        self.stdout = stdout
        self.out_lock = threading.Lock()
        self.lines = queue.Queue(maxsize=LINES_QUEUED_MAX)
        self.address = None
        self.case = None
        self.storage = None
        self.device = None
        self.terminal = None
        self.state_lock = threading.Lock()
        self.outstanding = None  # seq of the action the worker runs
        self.worker = None
        self.line_no = 0

    def write(self, obj: dict) -> None:
        with self.out_lock:
            self.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
            self.stdout.flush()

    def read_lines(self) -> None:
        for line in self.stdin:
            self.lines.put(line)
        self.lines.put(None)

    def run(self) -> int:
        threading.Thread(target=self.read_lines, daemon=True).start()
        while True:
            line = self.lines.get()
            if line is None:
                log("operator script: stdin closed before bye")
                self.power_cut()
                return 1
            self.line_no += 1
            try:
                if len(line) > LINE_BYTES_MAX:
                    raise ProtocolError(f"a line of over {LINE_BYTES_MAX} bytes")
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as error:
                    raise ProtocolError(f"not JSON ({error.msg})")
                if not isinstance(obj, dict) or not isinstance(obj.get("op"), str):
                    raise ProtocolError("expected an object with an \"op\"")
                if self.handle(obj):
                    return 0
            except ProtocolError as error:
                log(f"operator script: line {self.line_no}: {error}")
                self.power_cut()
                return 2

    def handle(self, obj: dict) -> bool:
        op = obj["op"]
        if self.address is None and op != "hello":
            raise ProtocolError(f"expected hello first, got {op!r}")
        if op == "hello":
            if self.address is not None:
                raise ProtocolError("a second hello")
            if obj.get("protocol") != PROTOCOL:
                raise ProtocolError(
                    f"protocol {obj.get('protocol')!r}, this terminal speaks {PROTOCOL}")
            host, sep, port = str(obj.get("listen", "")).rpartition(":")
            if not sep or not port.isdigit():
                raise ProtocolError(f"listen {obj.get('listen')!r} is not HOST:PORT")
            self.address = (host.strip("[]"), int(port))
        elif op == "case":
            self.start_case(obj)
        elif op == "do":
            self.do(obj)
        elif op == "end":
            self.stop_worker()
            log(f"{obj.get('case')}: {obj.get('verdict')} {obj.get('why', '')}")
        elif op == "bye":
            self.stop_worker()
            self.power_cut()
            log(f"bye: compliant {obj.get('compliant')}, passed {obj.get('passed')}, "
                f"failed {obj.get('failed')}, not exercised {obj.get('not_exercised')}")
            return True
        else:
            raise ProtocolError(f"unknown op {op!r}")
        return False

    def start_case(self, case: dict) -> None:
        for key in ("case", "terminal", "merchant", "tmk"):
            if not isinstance(case.get(key), str):
                raise ProtocolError(f"a case without {key!r}")
        if case.get("key_mode", "001") not in ("001", "003", "004"):
            raise ProtocolError(f"key_mode {case.get('key_mode')!r} is not 001, 003 or 004")
        tmk = case["tmk"]
        if len(tmk) not in (16, 32) or any(c not in "0123456789abcdefABCDEF" for c in tmk):
            raise ProtocolError("tmk is not 8 or 16 bytes of hex")
        for key in ("response_timeout_ms", "stan_start", "reversal_tries_max", "journal_max"):
            if key in case and (not isinstance(case[key], int) or case[key] < 1):
                raise ProtocolError(f"{key} is not a positive integer")
        cards = case.get("cards", [])
        if not isinstance(cards, list) or not all(
                isinstance(c, dict) and isinstance(c.get("pan"), str) for c in cards):
            raise ProtocolError("cards is not a list of {\"pan\": ...}")
        self.stop_worker()
        self.power_cut()
        self.case = case
        self.storage = new_storage(case)
        self.power_on()
        log(f"== {case['case']}: terminal {case['terminal']}")
        self.write({"ready": case["case"]})

    def power_on(self) -> None:
        self.device = Device(self.address)
        self.terminal = Terminal(self.case, self.storage, self.device, self.flags)
        try:
            self.device.connect()
        except OSError as error:
            log(f"   cannot connect to {self.address}: {error} (retried at the next message)")

    def power_cut(self) -> None:
        """Cut the power: what the storage holds now is what survives."""
        with self.state_lock:
            if self.device is not None:
                with self.device.lock:
                    self.device.on = False
                    if self.storage is not None:
                        # The worker may still be unwinding: it writes to the
                        # old store, never to the one that survives.
                        self.storage = copy.deepcopy(self.storage)
                self.device.cut()
            self.device = None
            self.terminal = None

    def stop_worker(self) -> None:
        """At a case's end: an action possim no longer waits for is cut
        short, and never acked (its seq is no longer outstanding)."""
        with self.state_lock:
            self.outstanding = None
        if self.worker is not None and self.worker.is_alive():
            self.power_cut()
            self.worker.join(WORKER_STOP_TIMEOUT_MS / 1000)
        self.worker = None

    def wait_worker(self) -> None:
        worker = self.worker
        if worker is not None:
            worker.join(WORKER_STOP_TIMEOUT_MS / 1000)
        self.worker = None

    def do(self, obj: dict) -> None:
        seq, action = obj.get("seq"), obj.get("action")
        if not isinstance(seq, int) or not isinstance(action, str):
            raise ProtocolError("a do without an integer seq and an action")
        if self.case is None:
            raise ProtocolError("a do before any case")
        if (action in KINDS or action in ADVICES) and action not in ("void", "completion_void"):
            if not isinstance(obj.get("card"), str) or not obj["card"].isdigit():
                raise ProtocolError(f"do {seq}: {action} without a card number")
        if "amount_fen" in obj and (not isinstance(obj["amount_fen"], int)
                                    or not 0 <= obj["amount_fen"] < 10**12):
            raise ProtocolError(f"do {seq}: amount_fen is not 0 to 999999999999")
        if action == "power_off":
            with self.state_lock:
                interrupted, self.outstanding = self.outstanding, None
            self.power_cut()
            if self.worker is not None:
                self.worker.join(WORKER_STOP_TIMEOUT_MS / 1000)
                self.worker = None
            log("   power off")
            if interrupted is not None:
                self.write({"ack": interrupted, "result": "done"})
            self.write({"ack": seq, "result": "done"})
            return
        with self.state_lock:
            busy = self.outstanding
        if busy is not None:
            raise ProtocolError(f"do {seq} while do {busy} is outstanding")
        # The previous worker has acked: it is only returning.
        self.wait_worker()
        if action == "power_on":
            if self.terminal is not None:
                self.write({"ack": seq, "result": "done"})
                return
            self.power_on()
            log("   power on")
            # What the terminal does at power-on (resume a cut batch upload)
            # runs like any action: a power cut may land in it too.
        if self.terminal is None:
            self.write({"ack": seq, "result": "done"})
            log(f"   {action}: the terminal is off")
            return
        with self.state_lock:
            self.outstanding = seq
        self.worker = threading.Thread(target=self.work, args=(self.terminal, seq, obj),
                                       daemon=True)
        self.worker.start()

    def work(self, terminal: Terminal, seq: int, action: dict) -> None:
        log(f"-- do {seq}: {action['action']} {action.get('card', '')} "
            f"{action.get('amount_fen', '')}")
        why = None
        try:
            why = terminal.perform(action)
        except PowerCut:
            log(f"   do {seq} cut by the power")
            return
        except Exception as error:  # noqa: BLE001 - a terminal fault ends the action, not the run
            log(f"   do {seq} failed on the terminal: {type(error).__name__}: {error}")
        with self.state_lock:
            if self.outstanding != seq:
                return  # a power cut took it and acked it
            self.outstanding = None
            if why is None:
                self.write({"ack": seq, "result": "done"})
            else:
                self.write({"ack": seq, "result": "unsupported", "why": why})


def run_operator(flags) -> int:
    return Operator(flags, sys.stdin, sys.stdout).run()
