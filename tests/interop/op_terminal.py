"""The terminal that py_operator.py drives: a small CUP POS terminal on
pyiso8583 (through cup_tool.py), with the persistent storage a power cut
must not lose and the broken variants real terminals have.

    storage = new_storage(case)              # what survives a power cut
    device = Device(("127.0.0.1", 41234))    # power and the TCP line
    terminal = Terminal(case, storage, device, flags)
    terminal.perform({"action": "sale", "card": "6222020000000001", "amount_fen": 100})

Persistent (kept in `storage`, survives power_off/power_on): the STAN
counter, the batch number, the journal, the pending reversal (written
*before* its request is sent, armed 98 on power-on when its answer never
came), the pending advices (0220: refunds, completion advices, offline
sales; sent again with the same STAN until answered 00 or 94), the
approved sales of every batch (a refund names one), the last
pre-authorisation, and the session (working keys and
whether the terminal is signed in: real terminals keep their working keys
in battery-backed secure memory, so a power cut does not force a sign-in,
and a stored reversal still has its MAK). Lost with the power: the
connection, the trade in progress, and whatever `--reversal-in-ram` moves
to RAM.

Rules (shared DOMAIN.md): the reversal is armed on no answer within the
response timeout (98), a bad MAC (A0) or a garbled answer (06), and sent
before the next trade or settlement (never before a sign-in), retried up to
`reversal_tries_max` (3) until answered 00, 12 or 25; while it stays
unacknowledged trades are refused. A decline is final (no reversal). A bare
94 is not a verdict: the wait for the real answer goes on. 22, 58, 77, 99,
A0 or header processing requirement 3 -> sign in before the next trade.
Settlement sends the batch totals (0500, field 48 as possim builds it);
when the host does not answer "balanced" the batch is uploaded (0320/201,
eight trades a message) and the upload ended with 0320/202; then the
journal is cleared and the batch number goes up by one. A lost 0510 keeps
the journal and the batch.
"""

import socket
import sys
import threading
import time

from cup_tool import CupError, _cipher, decode_frame, encode_message, kcv, verify_mac

TPDU = "6000030000"
HEADER = "603100310001"
# Reversal answers that end it: approved, "declined original" (12),
# "original not found" (25).
REVERSAL_DONE = ("00", "12", "25")
# Answer codes after which the terminal must sign in before its next trade
# (DOMAIN.md, Response codes: 22, 58, 77, 99, A0).
SIGN_IN_AGAIN = ("22", "58", "77", "99", "A0")
HEADER_SIGN_IN_AGAIN = 3
STAN_MAX = 999_999
BATCH_MAX = 999_999
REVERSAL_TRIES_MAX_DEFAULT = 3
UPLOAD_ENTRIES_MAX = 8
# A 95 to the end of the upload ("reconciliation error") asks for it again.
UPLOAD_ROUNDS_MAX = 2
JOURNAL_ENTRIES_MAX = 999
RESPONSE_TIMEOUT_MS_DEFAULT = 60_000
CONNECT_TIMEOUT_MS = 5_000
FRAME_BYTES_MAX = 4_096
FRAMES_PER_WAIT_MAX = 1_000
# The ack must reach possim before the action's deadline.
DEADLINE_MARGIN_MS = 1_000

# kind -> (MTI, F3, F25, 60.1, reversible, settlement side)
KINDS = {
    "inquiry": ("0200", "310000", "00", "01", False, None),
    "sale": ("0200", "000000", "00", "22", True, "debit"),
    "void": ("0200", "200000", "00", "23", True, "credit"),
    "pre_auth": ("0100", "030000", "06", "10", True, None),
    "pre_auth_cancel": ("0100", "200000", "06", "11", True, None),
    "completion": ("0200", "000000", "06", "20", True, "debit"),
    "completion_void": ("0200", "200000", "06", "21", True, "credit"),
}
# Advices (0220): kept in storage and sent again, same STAN, until the host
# acknowledges them (00, or 94 "already taken"); never reversed.
ADVICES = {
    "refund": ("0220", "200000", "00", "25", False, "credit"),
    "completion_advice": ("0220", "000000", "06", "24", False, "debit"),
    "offline_sale": ("0220", "000000", "00", "30", False, "debit"),
}
ADVICE_TAKEN = ("00", "94")
# An advice is not a trade the host can decline for good: "try later"
# codes (98: the issuer did not answer the network) leave it pending.
ADVICE_DEFERRED = ("09", "90", "91", "92", "96", "98")
ADVICES_MAX = 100
HISTORY_MAX = 100


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class PowerCut(Exception):
    """The power went while the terminal was working: stop at once."""


class OutOfTime(Exception):
    """The action's `deadline_ms` (less a margin) has passed: possim stops
    waiting for its ack then, so the terminal stops working on it."""


class ProtocolError(Exception):
    """An operator-script line this terminal does not understand."""


class Device:
    """The terminal's hardware: power and its one TCP connection.

    Shared by the operator thread (which may cut the power at any moment)
    and the worker thread (which performs actions on it).
    """

    def __init__(self, address):
        self.address = address
        self.lock = threading.Lock()
        self.on = True
        self.sock = None
        self.buffer = b""

    def check(self) -> None:
        if not self.on:
            raise PowerCut()

    def cut(self) -> None:
        with self.lock:
            self.on = False
            sock, self.sock = self.sock, None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def connect(self) -> None:
        self.check()
        sock = socket.create_connection(self.address, timeout=CONNECT_TIMEOUT_MS / 1000)
        with self.lock:
            if not self.on:
                sock.close()
                raise PowerCut()
            self.sock = sock
            self.buffer = b""

    def drop(self) -> None:
        with self.lock:
            sock, self.sock = self.sock, None
        if sock is not None:
            sock.close()

    def send(self, frame: bytes) -> None:
        if self.sock is None:
            self.connect()
        try:
            self.sock.sendall(frame)
        except (OSError, AttributeError):
            self.check()
            self.drop()
            raise

    def receive(self, deadline: float):
        """The next frame's bytes, or None at the deadline (or when the line
        is gone: a real terminal then waits out its timeout too)."""
        while True:
            self.check()
            if len(self.buffer) >= 2:
                length = int.from_bytes(self.buffer[:2], "big") + 2
                if length > FRAME_BYTES_MAX + 2:
                    self.buffer = b""
                    raise CupError(f"a frame of {length} bytes is over the bound")
                if len(self.buffer) >= length:
                    frame, self.buffer = self.buffer[:length], self.buffer[length:]
                    return frame
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            sock = self.sock
            if sock is None:
                # No line: wait out the timeout in small steps, watching the power.
                time.sleep(min(remaining, 0.05))
                continue
            sock.settimeout(min(remaining, 0.2))
            try:
                chunk = sock.recv(FRAME_BYTES_MAX)
            except socket.timeout:
                continue
            except OSError:
                self.check()
                self.drop()
                continue
            if not chunk:
                self.check()
                log("   the host closed the connection")
                self.drop()
                continue
            self.buffer += chunk


def new_storage(case: dict) -> dict:
    """The persistent store of a fresh terminal."""
    stan_start = int(case.get("stan_start", 1))
    if not 1 <= stan_start <= STAN_MAX:
        raise ProtocolError(f"stan_start {stan_start} is not 1 to {STAN_MAX}")
    return {
        "stan": stan_start - 1,
        "batch": 1,
        "journal": [],
        "reversal": None,
        "session": None,  # {"mak": hex, "pik": hex}; None = must sign in
        "last_pre_auth": None,
        "advices": [],  # pending 0220s, oldest first
        "history": [],  # approved sales of every batch, for refunds
        "upload": None,  # a batch upload under way: {"uploaded": n, "rounds": n}
    }


class Terminal:
    """One terminal between a power-on and a power cut: RAM state here,
    everything that survives in `self.storage`."""

    def __init__(self, case: dict, storage: dict, device: Device, flags):
        self.case = case
        self.storage = storage
        self.device = device
        self.flags = flags
        self.timeout_ms = int(case.get("response_timeout_ms", RESPONSE_TIMEOUT_MS_DEFAULT))
        # Optional case fields naming the scenario's terminal configuration.
        self.tries_max = int(case.get("reversal_tries_max", REVERSAL_TRIES_MAX_DEFAULT))
        self.give_up = case.get("reversal_exhausted", "keep") == "delete"
        self.journal_max = int(case.get("journal_max", JOURNAL_ENTRIES_MAX))
        self.pins = {card["pan"]: card.get("pin") for card in case.get("cards", [])}
        self.ram_reversal = None
        self.deadline = None  # time.monotonic() by which the action must end
        reversal = self.reversal()
        if reversal is not None and not reversal["armed"]:
            # Stored before its request left, never settled by an answer:
            # the answer never came.
            log(f"   power on: reversal of stan {reversal['fields']['11']} armed (98)")
            self.set_reversal({**reversal, "armed": True, "reason": "98"})

    # -- persistent state ---------------------------------------------------

    def store(self, key: str, value) -> None:
        with self.device.lock:
            self.device.check()
            self.storage[key] = value

    def reversal(self):
        if self.flags.reversal_in_ram:
            return self.ram_reversal
        return self.storage["reversal"]

    def set_reversal(self, value) -> None:
        if self.flags.reversal_in_ram:
            self.device.check()
            self.ram_reversal = value
        else:
            self.store("reversal", value)

    def next_stan(self) -> str:
        stan = self.storage["stan"] % STAN_MAX + 1
        self.store("stan", stan)
        return f"{stan:06d}"

    def batch(self) -> str:
        return f"{self.storage['batch']:06d}"

    def mak(self):
        session = self.storage["session"]
        return bytes.fromhex(session["mak"]) if session else None

    # -- the wire -----------------------------------------------------------

    def ids(self) -> dict:
        return {"41": self.case["terminal"], "42": self.case["merchant"]}

    def send(self, msg: dict, mac: bool) -> None:
        frame = encode_message(msg, self.mak() if mac else None)
        log(f"-> {msg['mti']} stan {msg.get('11')} 39 {msg.get('39', '--')} 60 {msg.get('60')}")
        self.device.send(frame)

    def exchange(self, msg: dict, mac: bool, reversible: bool):
        """Send and await the answer with the same STAN and MTI + 10.

        Returns ("answer", message) or ("timeout", None) or ("bad_mac", None)
        or ("garbled", None). A bare 94 to a reversible request or to a
        reversal is not its verdict: the wait goes on.
        """
        stan = msg["11"]
        want = f"{int(msg['mti']) + 10:04d}"
        if self.deadline is not None and time.monotonic() >= self.deadline:
            raise OutOfTime()
        try:
            self.send(msg, mac)
        except OSError as error:
            log(f"   send failed: {error}")
            return "timeout", None
        deadline = time.monotonic() + self.timeout_ms / 1000
        if self.deadline is not None:
            # Cut short by the action's deadline it is still a timeout: the
            # terminal stopped waiting.
            deadline = min(deadline, self.deadline)
        for _ in range(FRAMES_PER_WAIT_MAX):
            try:
                frame = self.device.receive(deadline)
            except CupError as error:
                log(f"   {error}")
                return ("garbled", None) if reversible else ("timeout", None)
            if frame is None:
                log(f"   no answer within {self.timeout_ms} ms")
                return "timeout", None
            try:
                answer = decode_frame(frame)
            except CupError as error:
                log(f"<- garbled frame: {error}")
                if reversible:
                    return "garbled", None
                continue
            code = answer.get("39")
            log(f"<- {answer['mti']} stan {answer.get('11')} code {code}")
            if answer["mti"] != want or answer.get("11") != stan:
                log("   not awaited: dropped")
                continue
            if code == "94" and (reversible or msg["mti"] == "0400"):
                log("   a bare 94 is not its verdict: still waiting")
                continue
            if "64" in answer and not verify_mac(frame, self.mak() or bytes(8))[1]:
                log("   answer MAC wrong")
                return "bad_mac", None
            if int(answer["header"][5], 16) == HEADER_SIGN_IN_AGAIN:
                log("   header asks for a new sign-in")
                self.store("session", None)
            return "answer", answer
        return "timeout", None

    # -- life cycle ---------------------------------------------------------

    def sign_in(self) -> bool:
        mode = self.case.get("key_mode", "001")
        msg = {"tpdu": TPDU, "header": HEADER, "mti": "0800", "11": self.next_stan(),
               **self.ids(), "60": f"00{self.batch()}{mode}", "63": "01 "}
        self.store("session", None)
        outcome, answer = self.exchange(msg, mac=False, reversible=False)
        if outcome != "answer" or answer.get("39") != "00" or "62" not in answer:
            log(f"   sign-in failed: {outcome} {answer.get('39') if answer else ''}")
            return False
        keys = bytes.fromhex(answer["62"])
        tmk = bytes.fromhex(self.case["tmk"])
        width = 8 if mode == "001" else 16
        try:
            pik = _cipher(tmk).decrypt(keys[0:width])
            mak = _cipher(tmk).decrypt(keys[width + 4:2 * width + 4])
        except (CupError, ValueError) as error:
            log(f"   sign-in keys unusable: {error}")
            return False
        if kcv(pik) != keys[width:width + 4] or kcv(mak) != keys[2 * width + 4:2 * width + 8]:
            log("   sign-in key check values do not match: not signed in")
            return False
        # The POS ECB MAC is single DES: a double-length MAK (003/004) MACs
        # with its first half, as possim's terminal and host do.
        mak = mak[:8]
        if "60" in answer and len(answer["60"]) >= 8:
            self.store("batch", int(answer["60"][2:8]))
        self.store("session", {"mak": mak.hex(), "pik": pik.hex()})
        log(f"   signed in, batch {self.batch()}")
        return True

    def network(self, code: str) -> bool:
        """Sign-off (002) or echo (301): 0820/0830."""
        msg = {"tpdu": TPDU, "header": HEADER, "mti": "0820", "11": self.next_stan(),
               **self.ids(), "60": f"00{self.batch()}{code}"}
        outcome, answer = self.exchange(msg, mac=False, reversible=False)
        return outcome == "answer" and answer.get("39") == "00"

    def sign_off(self) -> None:
        self.network("002")
        # Signed off whatever the answer: the next trade starts with a sign-in.
        self.store("session", None)

    # -- reversal -----------------------------------------------------------

    def arm(self, reason: str) -> None:
        reversal = self.reversal()
        if reversal is None:
            return
        log(f"   reversal of stan {reversal['fields']['11']} armed ({reason})")
        self.set_reversal({**reversal, "armed": True, "reason": reason})

    def flush_reversal(self) -> bool:
        """Send the armed reversal until acknowledged (00/12/25), at most
        tries_max times. True when none is left pending."""
        reversal = self.reversal()
        if reversal is None:
            return True
        if not reversal["armed"]:
            # Cannot happen between actions: stored records are armed or
            # cleared before the action that stored them ends.
            self.arm("98")
            reversal = self.reversal()
        msg = {**reversal["fields"], "mti": "0400", "39": reversal["reason"]}
        for attempt in range(1, self.tries_max + 1):
            log(f"   reversal of stan {msg['11']}, try {attempt}")
            outcome, answer = self.exchange(msg, mac=True, reversible=False)
            if outcome == "answer" and answer.get("39") in REVERSAL_DONE:
                self.set_reversal(None)
                return True
            log(f"   reversal try {attempt} not acknowledged ({outcome})")
            code = answer.get("39") if outcome == "answer" else None
            if code in SIGN_IN_AGAIN and not (code == "77" and self.flags.ignore_77):
                # DOMAIN.md, Response codes: A0 (the host found the MAC
                # wrong), 77, 99 ... mean sign in again; the next try goes
                # under the new session's MAC key.
                log(f"   code {code} to the reversal: sign in again before the next try")
                self.store("session", None)
                if not self.sign_in():
                    return False
        if self.give_up:
            log(f"   reversal of stan {msg['11']} given up: reconciled at clearing")
            self.set_reversal(None)
            return True
        return False

    # -- trades -------------------------------------------------------------

    def ready_for_trade(self) -> bool:
        if self.storage["session"] is None and not self.sign_in():
            return False
        if not self.flush_reversal():
            log("   the reversal is still pending: trade refused")
            return False
        self.flush_advices(tries_max=1)
        return True

    # -- advices ------------------------------------------------------------

    def advice(self, kind: str, action: dict) -> None:
        """Refund, completion advice, offline sale: stored, then sent."""
        if len(self.storage["advices"]) >= ADVICES_MAX:
            log("   advice store full: send the pending ones first (refused)")
            return
        if len(self.storage["journal"]) >= self.journal_max:
            log("   journal full: settle first (refused)")
            return
        mti, processing, condition, message_type, _, _ = ADVICES[kind]
        card = action.get("card", "")
        fields = {"tpdu": TPDU, "header": HEADER, "mti": mti, "2": card, "3": processing,
                  "4": f"{int(action.get('amount_fen', 0)):012d}", "22": "022",
                  "25": condition, **self.ids(), "49": "156",
                  "60": f"{message_type}{self.batch()}000"}
        if kind == "refund":
            sales = [h for h in self.storage["history"] if h["pan"] == card and h.get("rrn")]
            if not sales:
                log("   no earlier sale of this card to refund: refused")
                return
            fields["37"] = sales[-1]["rrn"]
            fields["61"] = f"000000000000{sales[-1].get('date') or '0101'}"
        elif kind == "completion_advice":
            pre_auth = self.storage["last_pre_auth"]
            if pre_auth is None or not pre_auth.get("auth"):
                log("   no pre-authorisation to complete: refused")
                return
            fields["38"] = pre_auth["auth"]
            fields["61"] = f"000000000000{pre_auth.get('date') or '0101'}"
        else:
            now = time.localtime()
            fields["12"] = time.strftime("%H%M%S", now)
            fields["13"] = time.strftime("%m%d", now)
        if kind == "offline_sale":
            # No message at the time: kept, uploaded with the next online
            # message, on send_pending, or before settlement at the latest.
            fields["11"] = self.next_stan()
            self.store("advices", self.storage["advices"] + [{"kind": kind, "fields": fields}])
            log(f"   offline sale stan {fields['11']} kept for upload")
            return
        if not self.ready_for_trade():
            return
        fields["11"] = self.next_stan()
        self.store("advices", self.storage["advices"] + [{"kind": kind, "fields": fields}])
        self.send_advice(self.storage["advices"][-1])

    def send_advice(self, advice: dict) -> bool:
        """One try; True when the advice is no longer pending."""
        fields = advice["fields"]
        outcome, answer = self.exchange(fields, mac=True, reversible=False)
        if outcome != "answer":
            log(f"   {advice['kind']} stan {fields['11']} unanswered: kept, sent again later")
            return False
        code = answer.get("39")
        if code in ADVICE_DEFERRED:
            log(f"   {advice['kind']} stan {fields['11']} deferred {code}: kept, sent again later")
            return False
        pending = [a for a in self.storage["advices"] if a["fields"]["11"] != fields["11"]]
        if code not in ADVICE_TAKEN:
            log(f"   {advice['kind']} stan {fields['11']} refused {code}: listed after settlement")
            self.store("advices", pending)
            return True
        log(f"   {advice['kind']} stan {fields['11']} acknowledged {code}")
        entry = {"kind": advice["kind"], "side": ADVICES[advice["kind"]][5],
                 "stan": fields["11"], "pan": fields["2"], "amount": int(fields["4"]),
                 "rrn": answer.get("37"), "auth": answer.get("38"), "batch": self.batch(),
                 "voided": False}
        with self.device.lock:
            self.device.check()
            self.storage["journal"] = self.storage["journal"] + [entry]
            self.storage["advices"] = pending
        return True

    def flush_advices(self, tries_max: int) -> bool:
        """Sends the pending advices, oldest first; True when none is left."""
        for advice in list(self.storage["advices"])[:ADVICES_MAX]:
            for _ in range(tries_max):
                if self.send_advice(advice):
                    break
        return not self.storage["advices"]

    def trade(self, kind: str, action: dict) -> None:
        original = None
        if kind == "void":
            original = self.void_original(action)
            if original is None:
                return
            if original["kind"] == "completion":
                kind = "completion_void"
        if KINDS[kind][5] is not None and len(self.storage["journal"]) >= self.journal_max:
            log("   journal full: settle first (refused)")
            return
        if not self.ready_for_trade():
            return
        mti, processing, condition, message_type, reversible, side = KINDS[kind]
        card = action.get("card", "")
        amount = action.get("amount_fen")
        fields = {"tpdu": TPDU, "header": HEADER, "mti": mti, "3": processing,
                  "25": condition, **self.ids(), "49": "156",
                  "60": f"{message_type}{self.batch()}000"}
        if original is not None:
            card, amount = original["pan"], original["amount"]
            fields["37"] = original["rrn"]
            if original.get("auth"):
                fields["38"] = original["auth"]
            fields["61"] = f"{original['batch']}{original['stan']}"
        elif kind in ("completion", "pre_auth_cancel"):
            pre_auth = self.storage["last_pre_auth"]
            if pre_auth is None or not pre_auth.get("auth"):
                log("   no pre-authorisation to complete or cancel: refused")
                return
            fields["38"] = pre_auth["auth"]
            fields["61"] = f"000000000000{pre_auth.get('date', '0101')}"
        fields["2"] = card
        if amount is not None and kind != "inquiry":
            fields["4"] = f"{int(amount):012d}"
        fields["11"] = self.next_stan()
        pin = self.pins.get(card) if kind in ("sale", "inquiry", "pre_auth") else None
        fields["22"] = "021" if pin else "022"
        secrets = {}
        if pin:
            if action.get("wrong_pin"):
                pin = pin[:-1] + str((int(pin[-1]) + 1) % 10)
            secrets = {"26": "12", "52": self.pin_block(pin, card), "53": "2600000000000000"}
        store_reversal = reversible and not self.flags.no_reversal
        if store_reversal:
            # Persistent storage first, then the wire: a power cut after
            # the request left still finds it.
            self.set_reversal({"fields": fields, "armed": False, "reason": None})
        outcome, answer = self.exchange({**fields, **secrets}, mac=True, reversible=reversible)
        if outcome != "answer":
            reason = {"timeout": "98", "bad_mac": "A0", "garbled": "06"}[outcome]
            log(f"   {kind} failed ({outcome})")
            if store_reversal:
                self.arm(reason)
            return
        code = answer.get("39")
        if store_reversal:
            if code != "00" and self.flags.reverse_declines:
                self.arm("06")
            else:
                # Any answer that checks out settles the trade, a decline too.
                self.set_reversal(None)
        if code in SIGN_IN_AGAIN and not (code == "77" and self.flags.ignore_77):
            log(f"   code {code}: sign in again before the next trade")
            self.store("session", None)
        if code != "00":
            log(f"   {kind} declined {code}")
            return
        log(f"   {kind} approved")
        if kind == "pre_auth":
            self.store("last_pre_auth", {"auth": answer.get("38"), "date": answer.get("13")})
        if kind == "sale":
            sale = {"pan": card, "rrn": answer.get("37"), "date": answer.get("13")}
            self.store("history", (self.storage["history"] + [sale])[-HISTORY_MAX:])
        if side is None:
            return
        journal = self.storage["journal"]
        entry = {"kind": kind, "side": side, "stan": fields["11"], "pan": card,
                 "amount": int(fields.get("4", "0")), "rrn": answer.get("37"),
                 "auth": answer.get("38"), "batch": self.batch(), "voided": False}
        if original is not None:
            journal = [dict(e, voided=True) if e["stan"] == original["stan"] else e
                       for e in journal]
        self.store("journal", journal + [entry])

    def void_original(self, action: dict):
        """The journal entry a void cancels: the one named by batch/stan
        when the action names it, else the last sale. None (refused) when
        it is not in this batch's journal: a void of another batch is a
        refund."""
        journal = self.storage["journal"]
        if "stan" in action:
            stan, batch = f"{int(action['stan']):06d}", f"{int(action.get('batch', 0)):06d}"
            if "batch" in action and batch != self.batch():
                log(f"   void of batch {batch}: not this batch ({self.batch()}): refused")
                return None
            found = [e for e in journal if e["stan"] == stan and not e["voided"]
                     and e["kind"] in ("sale", "completion")]
        else:
            found = [e for e in journal if e["kind"] == "sale" and not e["voided"]]
        if not found or not found[-1].get("rrn"):
            log("   nothing of this batch to void: refused")
            return None
        return found[-1]

    def pin_block(self, pin: str, pan: str) -> str:
        """ANSI X9.8 (format 0) under the PIK."""
        block = f"{len(pin):02d}{pin}".ljust(16, "F")
        account = "0000" + pan[-13:-1]
        clear = bytes(a ^ b for a, b in zip(bytes.fromhex(block), bytes.fromhex(account)))
        pik = bytes.fromhex(self.storage["session"]["pik"])
        return _cipher(pik).encrypt(clear).hex().upper()

    # -- settlement ---------------------------------------------------------

    def batch_entries(self) -> list:
        return [e for e in self.storage["journal"] if e["side"] is not None]

    def settle(self) -> None:
        if self.storage["session"] is None and not self.sign_in():
            return
        if not self.flush_reversal():
            log("   reversal not acknowledged before settlement: reconciled at clearing")
        if not self.flush_advices(tries_max=self.tries_max):
            log("   advices still unacknowledged: settlement waits")
            return
        if self.storage["upload"] is not None:
            # The host already said "not balanced": finish that upload, no new 0500.
            self.finish_upload()
            return
        journal = self.storage["journal"]
        debits = [e for e in journal if e["side"] == "debit"]
        credits = [e for e in journal if e["side"] == "credit"]
        totals = (f"{sum(e['amount'] for e in debits):012d}{len(debits):03d}"
                  f"{sum(e['amount'] for e in credits):012d}{len(credits):03d}0")
        msg = {"tpdu": TPDU, "header": HEADER, "mti": "0500", "11": self.next_stan(),
               **self.ids(), "48": totals, "49": "156", "60": f"00{self.batch()}201",
               "63": "01 "}
        outcome, answer = self.exchange(msg, mac=False, reversible=False)
        if outcome != "answer" or len(answer.get("48", "")) < 31:
            log("   settlement failed: the journal is kept")
            return
        flag = answer["48"][30]
        if flag == "1":
            log("   settlement balanced")
            self.close_batch()
            return
        log(f"   settlement not balanced (flag {flag}): batch upload")
        # In storage first: a power cut mid-upload resumes it at power-on.
        self.store("upload", {"uploaded": 0, "rounds": 0})
        self.finish_upload()

    def finish_upload(self) -> None:
        """Uploads what the batch upload in storage has not yet sent (0320
        201, eight trades a message), ends it (0320 202), closes the batch.
        A 95 to the end asks for the whole upload once more."""
        entries = self.batch_entries()
        for _ in range(UPLOAD_ROUNDS_MAX):
            upload = self.storage["upload"]
            for start in range(upload["uploaded"], len(entries), UPLOAD_ENTRIES_MAX):
                chunk = entries[start:start + UPLOAD_ENTRIES_MAX]
                detail = f"{len(chunk):02d}" + "".join(
                    f"00{e['stan']}{e['pan'].rjust(20, '0')}{e['amount']:012d}" for e in chunk)
                msg = {"tpdu": TPDU, "header": HEADER, "mti": "0320", "11": self.next_stan(),
                       **self.ids(), "48": detail, "60": f"00{self.batch()}201"}
                outcome, answer = self.exchange(msg, mac=False, reversible=False)
                if outcome != "answer" or answer.get("39") != "00":
                    log("   batch upload interrupted: resumed at the next settle")
                    return
                self.store("upload", {**upload, "uploaded": start + len(chunk)})
            msg = {"tpdu": TPDU, "header": HEADER, "mti": "0320", "11": self.next_stan(),
                   **self.ids(), "48": f"{len(entries):04d}", "60": f"00{self.batch()}202"}
            outcome, answer = self.exchange(msg, mac=False, reversible=False)
            code = answer.get("39") if outcome == "answer" else None
            if code == "00":
                self.close_batch()
                return
            rounds = self.storage["upload"]["rounds"] + 1
            if code == "95" and rounds < UPLOAD_ROUNDS_MAX:
                log("   95 to the end of the upload: the batch is uploaded again")
                self.store("upload", {"uploaded": 0, "rounds": rounds})
                continue
            log(f"   batch upload not ended ({code}): resumed at the next settle")
            return

    def close_batch(self) -> None:
        log(f"   journal of batch {self.batch()} cleared ({len(self.storage['journal'])} trades)")
        with self.device.lock:
            self.device.check()
            self.storage["journal"] = []
            self.storage["upload"] = None
            self.storage["batch"] = self.storage["batch"] % BATCH_MAX + 1
        if self.case.get("sign_off_after_settlement"):
            self.sign_off()

    def recover(self) -> None:
        """At power-on: a batch upload the cut interrupted is resumed."""
        if self.storage["upload"] is not None:
            log("   power on: resuming the batch upload")
            self.settle()

    # -- one operator instruction -------------------------------------------

    def perform(self, action: dict):
        """Performs one `do`; returns None when done, or why unsupported."""
        deadline_ms = action.get("deadline_ms")
        self.deadline = None
        if isinstance(deadline_ms, int):
            self.deadline = time.monotonic() + max(deadline_ms - DEADLINE_MARGIN_MS, 0) / 1000
        try:
            return self.perform_action(action)
        except OutOfTime:
            log(f"   out of time ({deadline_ms} ms): the action ends here")
            return None
        finally:
            self.deadline = None

    def perform_action(self, action: dict):
        name = action["action"]
        if name == "sign_in":
            self.sign_in()
        elif name == "sign_off":
            self.sign_off()
        elif name == "echo":
            self.network("301")
        elif name == "settle":
            self.settle()
        elif name == "power_on":
            self.recover()
        elif name == "send_pending":
            pending = self.reversal() is not None or self.storage["advices"]
            if self.storage["session"] is None and pending:
                self.sign_in()
            if self.flush_reversal():
                self.flush_advices(tries_max=1)
        elif name in ("void", "completion_void"):
            self.trade("void", action)
        elif name in KINDS:
            self.trade(name, action)
        elif name in ADVICES:
            self.advice(name, action)
        elif name in ("e_cash", "ecash"):
            return "no e-cash chip"
        else:
            return f"this terminal cannot {name.replace('_', ' ')}"
        return None


