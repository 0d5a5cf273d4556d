# SPDX-License-Identifier: AGPL-3.0-or-later
# tests/integration/smsc/smsc.py — an SMSC simulator for the tern-sms tests: a real SMPP 3.4
# codec (struct), one listener on loopback in threads, controlled by the test: refuse the
# password, answer ESME_RTHROTTLED or another error to the next submits, record every
# bind and submit_sm, send deliver_sm (texts, concatenated parts, delivery receipts), go
# down (listener and links closed) and come back up on the same port.

import itertools
import socket
import struct
import threading
import time

GENERIC_NACK = 0x80000000
BIND_TRANSCEIVER = 0x00000009
SUBMIT_SM = 0x00000004
DELIVER_SM = 0x00000005
UNBIND = 0x00000006
ENQUIRE_LINK = 0x00000015
RESP = 0x80000000

ESME_ROK = 0x00
ESME_RINVCMDID = 0x03
ESME_RINVDSTADR = 0x0B
ESME_RINVPASWD = 0x0E
ESME_RTHROTTLED = 0x58

TLV_MESSAGE_STATE = 0x0427
TLV_RECEIPTED_MESSAGE_ID = 0x001E


def cstr(b):
    return b.encode("latin-1") + b"\0" if isinstance(b, str) else b + b"\0"


class Reader:
    """Fields of a PDU body, in order (SMPP 3.4 §3.1)."""

    def __init__(self, data):
        self.d, self.i = data, 0

    def u8(self):
        v = self.d[self.i]
        self.i += 1
        return v

    def cstr(self, maxlen):
        end = self.d.index(b"\0", self.i)
        if end - self.i + 1 > maxlen:
            raise ValueError("C-Octet String longer than %d" % maxlen)
        v = self.d[self.i:end].decode("latin-1")
        self.i = end + 1
        return v

    def octets(self, n):
        v = self.d[self.i:self.i + n]
        if len(v) != n:
            raise ValueError("short field")
        self.i += n
        return v

    def tlvs(self):
        out = {}
        while self.i < len(self.d):
            tag, length = struct.unpack(">HH", self.octets(4))
            out[tag] = self.octets(length)
        return out


def pdu(command_id, status, seq, body=b""):
    return struct.pack(">IIII", 16 + len(body), command_id, status, seq) + body


def parse_submit(body):
    r = Reader(body)
    s = {"service_type": r.cstr(6), "source_addr_ton": r.u8(), "source_addr_npi": r.u8(),
         "source_addr": r.cstr(21), "dest_addr_ton": r.u8(), "dest_addr_npi": r.u8(),
         "destination_addr": r.cstr(21), "esm_class": r.u8(), "protocol_id": r.u8(),
         "priority_flag": r.u8(), "schedule_delivery_time": r.cstr(17),
         "validity_period": r.cstr(17), "registered_delivery": r.u8(),
         "replace_if_present_flag": r.u8(), "data_coding": r.u8(), "sm_default_msg_id": r.u8()}
    n = r.u8()
    s["short_message"] = r.octets(n)
    s["tlvs"] = r.tlvs()
    sm = s["short_message"]
    s["udh"] = None
    if s["esm_class"] & 0x40:
        s["udh"], sm = sm[:sm[0] + 1], sm[sm[0] + 1:]
    s["payload"] = sm
    s["text"] = decode_text(s["data_coding"], sm)
    return s


# GSM 03.38 basic table and extension table (one septet per octet on SMPP)
GSM = ("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
       "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM_EXT = {0x0A: "\f", 0x14: "^", 0x28: "{", 0x29: "}", 0x2F: "\\", 0x3C: "[", 0x3D: "~",
           0x3E: "]", 0x40: "|", 0x65: "€"}


def gsm_decode(b):
    out, esc = [], False
    for c in b:
        if esc:
            out.append(GSM_EXT.get(c, GSM[c & 0x7F]))
            esc = False
        elif c == 0x1B:
            esc = True
        else:
            out.append(GSM[c & 0x7F])
    return "".join(out)


def gsm_encode(text):
    rev = {ch: i for i, ch in enumerate(GSM) if i != 0x1B}
    ext = {ch: c for c, ch in GSM_EXT.items()}
    out = bytearray()
    for ch in text:
        if ch in rev:
            out.append(rev[ch])
        else:
            out += bytes([0x1B, ext[ch]])
    return bytes(out)


def decode_text(dc, b):
    if dc == 0:
        return gsm_decode(b)
    if dc == 8:
        return b.decode("utf-16-be")
    return b.decode("latin-1")


class Link:
    """One bound (or binding) ESME connection."""

    def __init__(self, smsc, sock):
        self.smsc, self.sock = smsc, sock
        self.bound = False
        self.wlock = threading.Lock()
        self.waiting = {}  # seq -> [event, status]
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def send(self, data):
        with self.wlock:
            self.sock.sendall(data)

    def request(self, command_id, body, timeout=10):
        """Send a request; its response status (None on timeout or a closed link)."""
        seq = next(self.smsc.seq)
        ev = [threading.Event(), None]
        self.waiting[seq] = ev
        try:
            self.send(pdu(command_id, 0, seq, body))
        except OSError:
            return None
        ev[0].wait(timeout)
        self.waiting.pop(seq, None)
        return ev[1]

    def recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise EOFError()
            buf += chunk
        return buf

    def run(self):
        try:
            while True:
                head = self.recv_exact(16)
                length, cid, status, seq = struct.unpack(">IIII", head)
                body = self.recv_exact(length - 16) if length > 16 else b""
                self.handle(cid, status, seq, body)
        except (EOFError, OSError, ValueError):
            pass
        finally:
            self.close()

    def close(self):
        self.bound = False
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        with self.smsc.lock:
            if self in self.smsc.links:
                self.smsc.links.remove(self)

    def handle(self, cid, status, seq, body):
        s = self.smsc
        if cid & RESP:
            w = self.waiting.get(seq)
            if w:
                w[1] = status
                w[0].set()
            return
        if cid == BIND_TRANSCEIVER:
            r = Reader(body)
            b = {"system_id": r.cstr(16), "password": r.cstr(9), "system_type": r.cstr(13),
                 "interface_version": r.u8(), "time": time.monotonic()}
            ok = b["system_id"] == s.system_id and b["password"] == s.password
            b["status"] = ESME_ROK if ok else ESME_RINVPASWD
            with s.lock:
                s.binds.append(b)
            self.bound = ok
            self.send(pdu(BIND_TRANSCEIVER | RESP, b["status"], seq,
                          cstr("SIMSMSC") if ok else b""))
            with s.cond:
                s.cond.notify_all()
        elif cid == ENQUIRE_LINK:
            self.send(pdu(ENQUIRE_LINK | RESP, 0, seq))
        elif cid == UNBIND:
            self.send(pdu(UNBIND | RESP, 0, seq))
            raise EOFError()
        elif cid == SUBMIT_SM:
            sub = parse_submit(body)
            with s.lock:
                status = s.next_status.pop(0) if s.next_status else ESME_ROK
                sub["status"] = status
                sub["message_id"] = "%X" % next(s.msgids) if status == ESME_ROK else None
                s.submits.append(sub)
            body = cstr(sub["message_id"]) if status == ESME_ROK else b""
            self.send(pdu(SUBMIT_SM | RESP, status, seq, body))
            with s.cond:
                s.cond.notify_all()
            if status == ESME_ROK and sub["registered_delivery"] & 1 and s.auto_receipts:
                threading.Thread(target=s.send_receipt, args=(sub,), daemon=True).start()
        else:
            self.send(pdu(GENERIC_NACK, ESME_RINVCMDID, seq))


class Smsc:
    def __init__(self, host, system_id, password):
        self.host, self.system_id, self.password = host, system_id, password
        self.lock = threading.Lock()
        self.cond = threading.Condition()
        self.links = []
        self.binds = []
        self.submits = []
        self.next_status = []  # statuses for the next submit_sm, in order
        self.auto_receipts = True
        self.receipt_stat = "DELIVRD"
        self.seq = itertools.count(1)
        self.msgids = itertools.count(0xA000)
        self.port = None
        self.listener = None

    # -- up / down
    def start(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((self.host, self.port or 0))
        s.listen(8)
        self.port = s.getsockname()[1]
        self.listener = s
        threading.Thread(target=self._accept, args=(s,), daemon=True).start()
        return self

    def _accept(self, listener):
        while True:
            try:
                c, _ = listener.accept()
            except OSError:
                return
            with self.lock:
                self.links.append(Link(self, c))

    def stop(self):
        """The SMSC goes down: no listener, every link closed."""
        if self.listener:
            try:
                self.listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.listener.close()
            self.listener = None
        for link in list(self.links):
            link.close()

    # -- waiting
    def wait_for(self, pred, timeout=15, what="condition"):
        deadline = time.monotonic() + timeout
        with self.cond:
            while not pred():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("SMSC: no %s within %ss; binds %s, submits %s"
                                         % (what, timeout, self.binds[-5:],
                                            [x["text"] for x in self.submits[-10:]]))
                self.cond.wait(min(left, 0.2))

    def bound_link(self, timeout=15):
        self.wait_for(lambda: any(l.bound for l in self.links), timeout, "bound link")
        return next(l for l in self.links if l.bound)

    def wait_submits(self, n, timeout=15):
        self.wait_for(lambda: len(self.submits) >= n, timeout, "%d submit_sm" % n)
        return self.submits[:n]

    # -- SMSC -> ESME
    def deliver(self, source, dest, short_message, data_coding=0, esm_class=0, tlvs=b"",
                timeout=10):
        """deliver_sm to the bound ESME; the status of its deliver_sm_resp."""
        body = (cstr("") + bytes([1, 1]) + cstr(source) + bytes([1, 1]) + cstr(dest) +
                bytes([esm_class, 0, 0]) + cstr("") + cstr("") +
                bytes([0, 0, data_coding, 0, len(short_message)]) + short_message + tlvs)
        return self.bound_link().request(DELIVER_SM, body, timeout)

    def send_receipt(self, sub, stat=None):
        stat = stat or self.receipt_stat
        text = ("id:%s sub:001 dlvrd:%03d submit date:2411240712 done date:2411240713 "
                "stat:%s err:000 text:%s" % (sub["message_id"], 1 if stat == "DELIVRD" else 0,
                                             stat, sub["text"][:20].encode("ascii", "replace")
                                             .decode()))
        time.sleep(0.1)
        # a receipt comes from the recipient to the original sender (SMPP 3.4 Appendix B)
        self.deliver(sub["destination_addr"], sub["source_addr"], text.encode("latin-1"),
                     esm_class=0x04)
