#!/usr/bin/env python3
"""fakeimap.py - a scripted, hostile IMAP server for tests (stdlib only).

  fakeimap.py certs DIR
      makes a test CA (DIR/ca.pem) and a server certificate signed by it
      (DIR/server.pem, DIR/server.key; subjectAltName IP:127.0.0.1 and
      DNS:localhost) with the openssl CLI, as tests/imap/dovecot.sh does.

  fakeimap.py serve --scenario NAME --dir DIR --password-file F
                    [--mailbox base|full|big] [--port-file F] [--log F]
                    [--max-seconds N]
      serves IMAP over implicit TLS on 127.0.0.1, on a free port printed
      ("PORT n") on stdout and written to --port-file (atomically, once
      listening).  Certificates come from DIR (made there if missing).
      Any user name logs in with the password in the first line of
      --password-file (AUTHENTICATE PLAIN with or without SASL-IR, or
      LOGIN); a wrong one is NO [AUTHENTICATIONFAILED].  Runs until killed
      or --max-seconds (default 300) have passed.

  fakeimap.py manifest [--mailbox base|full|big] [--omit FOLDER/UID ...]
      prints what the mailbox holds in the format of
      `imapread.py manifest` (for cmparchive.py), without the omitted UIDs.

  fakeimap.py retried LOG
      finds the first command the server throttled in LOG and the next
      time the client sent the same command (same text, another tag);
      prints "GAP_MS COMMAND" (milliseconds from the throttling answer to
      the retry); exits 1 if it was never sent again.

  fakeimap.py asked LOG UID
      prints how many body FETCH commands in LOG asked for UID (any
      folder).

The mailbox (UIDVALIDITY 777 for INBOX, 4242 for Work, delimiter "/"):
  INBOX  UIDs 101 102 103 105 107 (base: 101 102) -- sequence numbers
         differ from UIDs; 102 holds a NUL byte (sent as literal8 ~{n} for
         BINARY[]), 103 bare LFs, 107 UTF-8; 105 is the target of every
         hostile behaviour (9 MiB with --mailbox big, so it is streamed)
  Work   UIDs 1 2 (base: 1)
Capabilities: before login "IMAP4rev1 SASL-IR AUTH=PLAIN ID LITERAL+",
after it "IMAP4rev1 BINARY UIDPLUS ID LITERAL+ IDLE NAMESPACE UNSELECT"
(no CONDSTORE, ESEARCH or LIST-EXTENDED: the client uses plain LIST and
FETCH 1:* (UID FLAGS)).  Commands served: CAPABILITY, NOOP, ID,
NAMESPACE, LIST, LSUB, EXAMINE, SELECT, UID FETCH, FETCH, UID SEARCH,
SEARCH, CLOSE, UNSELECT, LOGOUT; anything else is BAD.

Scenarios (each injects one behaviour; "body FETCH" is a FETCH command
asking for BODY[]/BINARY[]/RFC822, counted over the whole server run):
  normal              none
  huge-literal        UID 105's body announced as {99999999999} (~100 GB),
                      then 64 KiB of it and silence
  huge-literal-u64    the same with a size over 2^64
  garbage             a line of binary junk instead of UID 105's FETCH
  disconnect-once     the first connection is cut (no TLS close_notify)
                      half-way through UID 105's literal; later ones serve
  disconnect-always   every connection is cut there
  bye-once            the first body FETCH of the first connection gets
                      "* BYE [UNAVAILABLE] ..." and the connection closes
  bye-always          every connection does that
  noise               untagged noise around every FETCH response: EXISTS,
                      RECENT, * OK [ALERT], an unsolicited FETCH (FLAGS),
                      * XAPPLEPUSHSERVICE, an unknown response holding a
                      literal
  out-of-order        each body FETCH answered in reverse UID order
  missing             UID 105's FETCH response is never sent (tagged OK)
  gmail-throttle      the first body FETCH: "NO [THROTTLED] ..."
  gmail-throttle-tail the first body FETCH: "NO ... [THROTTLED]" (at the
                      end of the text, the way Gmail appends it)
  gmail-ok-throttled  every body FETCH completes "OK Success [THROTTLED]"
  m365-throttle       the first body FETCH: "BAD Request is throttled.
                      Suggested Backoff Time: 200 milliseconds"
  m365-throttle-examine  the first EXAMINE answered so
  oversize            UID 105's literal is 40 bytes longer than the
                      RFC822.SIZE sent with it
  nil-body            UID 105's body is NIL
  bad-tag             every body FETCH is answered with an extra tagged
                      "zz999 OK ..." (a tag the client never sent) after
                      its FETCH responses and before its own tagged OK
  double-body         UID 105's FETCH response holds its body item twice
  duplicate-fetch     UID 105's FETCH response is sent twice
Hostile steps are logged as "X:" lines.

The log (--log): one line per event, "SECONDS cN DIR TEXT" with SECONDS
since the server started, N the connection number and DIR "C:" (a command
from the client, as received, except that SASL and LOGIN credentials are
replaced by <redacted>), "S:" (a tagged or status answer), "X:" (a
hostile step) or "L:" (connections and logins).
"""
import argparse
import base64
import hashlib
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time

CAPS_PRE = "IMAP4rev1 SASL-IR AUTH=PLAIN ID LITERAL+"
CAPS_POST = "IMAP4rev1 BINARY UIDPLUS ID LITERAL+ IDLE NAMESPACE UNSELECT"
TARGET = 105
SCENARIOS = (
    "normal", "huge-literal", "huge-literal-u64", "garbage",
    "disconnect-once", "disconnect-always", "bye-once", "bye-always",
    "noise", "out-of-order", "missing", "gmail-throttle",
    "gmail-throttle-tail", "gmail-ok-throttled", "m365-throttle",
    "m365-throttle-examine", "oversize", "nil-body", "bad-tag",
    "double-body", "duplicate-fetch",
)


# ---- the mailbox -------------------------------------------------------

class Msg:
    def __init__(self, uid, flags, date, body):
        self.uid, self.flags, self.date, self.body = uid, flags, date, body


def big_body():
    # 9 MiB: over the 8 MiB the client holds whole, so it is streamed.
    head = (b"Subject: big target\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n")
    line = base64.b64encode(hashlib.sha512(b"fakeimap").digest()[:57]) + b"\r\n"
    n = (9 * 1024 * 1024 - len(head)) // len(line) + 1
    return head + b"".join(
        line[:-6] + b"%04d" % (i % 10000) + b"\r\n" for i in range(n))


def mailbox(kind):
    inbox = [
        Msg(101, ["\\Seen"], "01-Jan-2023 00:00:00 +0000",
            b"Subject: one\r\nFrom: a@example.org\r\n\r\nfirst message\r\n"),
        Msg(102, ["\\Flagged", "$Label1"], "02-Feb-2024 03:04:05 +0100",
            b"Subject: nul\r\n\r\nbefore\x00after\r\n"),
        Msg(103, [], "03-Mar-2024 10:11:12 -0500",
            b"Subject: bare lf\nFrom: b@example.org\n\nbare\nlf\n"),
        Msg(105, ["\\Seen", "\\Answered"], "05-May-2024 05:05:05 +0000",
            b"Subject: target\r\nFrom: c@example.org\r\n\r\n" +
            b"".join(b"line %04d of the hostile target\r\n" % i for i in range(60))),
        Msg(107, ["\\Seen"], "07-Jul-2024 07:07:07 +0000",
            "Subject: 8bit\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            "\u00e9t\u00e9 \u20ac\r\n".encode("utf-8")),
    ]
    work = [
        Msg(1, ["\\Seen"], "10-Oct-2024 10:10:10 +0000", b"Subject: work 1\r\n\r\nw1\r\n"),
        Msg(2, ["$Work"], "11-Oct-2024 11:11:11 +0000", b"Subject: work 2\r\n\r\nw2\r\n"),
    ]
    if kind == "base":
        inbox = inbox[:2]
        work = work[:1]
    elif kind == "big":
        inbox[3].body = big_body()
    return {"INBOX": (777, inbox), "Work": (4242, work)}


def manifest(a):
    box = mailbox(a.mailbox)
    omit = set(a.omit or [])
    out = {"body": "BINARY.PEEK[]", "folders": {}}
    for name, (uv, msgs) in box.items():
        m = {}
        for x in msgs:
            if "%s/%d" % (name, x.uid) in omit:
                continue
            m[str(x.uid)] = {"sha256": hashlib.sha256(x.body).hexdigest(),
                             "size": len(x.body), "flags": sorted(x.flags),
                             "date": x.date}
        out["folders"][name] = {"name": name, "delim": "/", "uidvalidity": uv,
                                "highestmodseq": 0, "special": [], "messages": m}
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    return 0


# ---- certificates ------------------------------------------------------

def make_certs(d):
    os.makedirs(d, exist_ok=True)
    if all(os.path.exists(os.path.join(d, f)) for f in ("ca.pem", "server.pem", "server.key")):
        return
    p = lambda f: os.path.join(d, f)
    run = lambda *args: subprocess.run(args, check=True, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.PIPE)
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-keyout", p("ca.key"), "-out", p("ca.pem"), "-days", "30",
        "-subj", "/CN=fakeimap test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-keyout", p("server.key"), "-out", p("server.csr"), "-subj", "/CN=localhost")
    with open(p("server.ext"), "w") as f:
        f.write("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run("openssl", "x509", "-req", "-in", p("server.csr"), "-CA", p("ca.pem"),
        "-CAkey", p("ca.key"), "-set_serial", "0x" + os.urandom(8).hex(), "-days", "30",
        "-extfile", p("server.ext"), "-out", p("server.pem"))
    os.chmod(p("ca.key"), 0o600)
    os.chmod(p("server.key"), 0o600)
    os.unlink(p("server.csr"))


# ---- the server --------------------------------------------------------

class Closed(Exception):
    pass


class Server:
    def __init__(self, a):
        self.scenario = a.scenario
        self.box = mailbox(a.mailbox)
        with open(a.password_file, "rb") as f:
            self.password = f.readline().rstrip(b"\r\n")
        self.t0 = time.monotonic()
        self.lock = threading.Lock()
        self.logf = open(a.log, "a", buffering=1) if a.log else None
        self.nconn = 0
        self.body_fetches = 0
        self.examines = 0

    def log(self, cid, d, text):
        line = "%.3f c%d %s %s" % (time.monotonic() - self.t0, cid, d, text)
        with self.lock:
            if self.logf:
                self.logf.write(line + "\n")


def printable(b):
    return "".join(chr(c) if 0x20 <= c < 0x7f else "\\x%02x" % c for c in b)


def parse_set(s, maxv):
    out = set()
    for part in s.split(","):
        if ":" in part:
            lo, hi = part.split(":", 1)
            lo = maxv if lo == "*" else int(lo)
            hi = maxv if hi == "*" else int(hi)
            if lo > hi:
                lo, hi = hi, lo
            out.update(range(lo, hi + 1))
        else:
            out.add(maxv if part == "*" else int(part))
    return out


ITEM_RE = re.compile(r"[A-Z0-9.]+(?:\[[^\]]*\](?:<[0-9.]+>)?)?")


class Conn:
    def __init__(self, srv, sock, cid):
        self.srv, self.sock, self.cid = srv, sock, cid
        self.buf = b""
        self.authed = False
        self.folder = None

    # -- I/O --
    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        try:
            self.sock.sendall(data)
        except OSError as ex:
            raise Closed("send: %s" % ex)

    def status(self, line):
        self.srv.log(self.cid, "S:", line)
        self.send(line + "\r\n")

    def hostile(self, text):
        self.srv.log(self.cid, "X:", text)

    def readline(self):
        while b"\r\n" not in self.buf:
            if len(self.buf) > 1 << 20:
                raise Closed("line too long")
            try:
                d = self.sock.recv(65536)
            except OSError as ex:
                raise Closed("recv: %s" % ex)
            if not d:
                raise Closed("EOF")
            self.buf += d
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def readn(self, n):
        while len(self.buf) < n:
            try:
                d = self.sock.recv(65536)
            except OSError as ex:
                raise Closed("recv: %s" % ex)
            if not d:
                raise Closed("EOF in literal")
            self.buf += d
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def command(self):
        """A whole command line, literals inlined as quoted strings."""
        line = self.readline()
        while True:
            m = re.search(rb"\{(\d+)(\+?)\}$", line)
            if not m:
                return line
            if not m.group(2):
                self.send("+ go ahead\r\n")
            lit = self.readn(int(m.group(1)))
            line = line[:m.start()] + b'"' + lit.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"' + self.readline()

    def cut(self, why):
        """Drops the connection without a TLS close_notify."""
        self.hostile(why)
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        raise Closed(why)

    def close_gently(self):
        try:
            self.sock.settimeout(2)
            self.sock.unwrap().close()
        except (OSError, ValueError):
            pass
        raise Closed("closed after BYE")

    # -- the session --
    def run(self):
        s = self.srv
        self.send("* OK [CAPABILITY %s] fakeimap (%s) ready\r\n" % (CAPS_PRE, s.scenario))
        while True:
            raw = self.command()
            shown = raw
            m = re.match(rb"(\S+) (AUTHENTICATE PLAIN|LOGIN) ", raw, re.I)
            if m:
                shown = raw[:m.end()] + b"<redacted>"
            s.log(self.cid, "C:", printable(shown))
            parts = raw.decode("latin-1").split(" ", 2)
            tag = parts[0]
            if len(parts) < 2:
                self.status("%s BAD no command" % tag)
                continue
            cmd = parts[1].upper()
            args = parts[2] if len(parts) > 2 else ""
            if cmd == "UID":
                sub = args.split(" ", 1)
                cmd = "UID " + sub[0].upper()
                args = sub[1] if len(sub) > 1 else ""
            h = getattr(self, "c_" + cmd.replace(" ", "_"), None)
            if h is None or (not self.authed and cmd not in (
                    "CAPABILITY", "NOOP", "ID", "AUTHENTICATE", "LOGIN", "LOGOUT")):
                self.status("%s BAD unknown command or wrong state" % tag)
                continue
            h(tag, args)

    def c_CAPABILITY(self, tag, args):
        self.send("* CAPABILITY %s\r\n" % (CAPS_POST if self.authed else CAPS_PRE))
        self.status("%s OK CAPABILITY completed" % tag)

    def c_NOOP(self, tag, args):
        self.status("%s OK NOOP completed" % tag)

    def c_ID(self, tag, args):
        self.send('* ID ("name" "fakeimap")\r\n')
        self.status("%s OK ID completed" % tag)

    def c_NAMESPACE(self, tag, args):
        self.send('* NAMESPACE (("" "/")) NIL NIL\r\n')
        self.status("%s OK NAMESPACE completed" % tag)

    def check_login(self, tag, user, pw, how):
        if pw == self.srv.password and user:
            self.authed = True
            self.srv.log(self.cid, "L:", "login user=%s ok (%s)" % (printable(user), how))
            self.status("%s OK [CAPABILITY %s] Logged in" % (tag, CAPS_POST))
        else:
            self.srv.log(self.cid, "L:", "login user=%s FAILED (%s)" % (printable(user), how))
            self.status("%s NO [AUTHENTICATIONFAILED] Authentication failed." % tag)

    def c_AUTHENTICATE(self, tag, args):
        a = args.split(" ")
        if a[0].upper() != "PLAIN":
            self.status("%s NO unsupported mechanism" % tag)
            return
        if len(a) > 1:
            b64, how = a[1], "AUTHENTICATE PLAIN with SASL-IR"
        else:
            self.send("+ \r\n")
            b64, how = self.readline().decode("latin-1"), "AUTHENTICATE PLAIN after a continuation"
            self.srv.log(self.cid, "C:", "<redacted SASL response>")
            if b64 == "*":
                self.status("%s BAD authentication cancelled" % tag)
                return
        try:
            _authz, user, pw = base64.b64decode(b64, validate=True).split(b"\0")
        except Exception:
            self.status("%s BAD malformed SASL PLAIN" % tag)
            return
        self.check_login(tag, user, pw, how)

    def c_LOGIN(self, tag, args):
        toks = re.findall(rb'"((?:\\.|[^"\\])*)"|(\S+)', args.encode("latin-1"))
        vals = [re.sub(rb"\\(.)", rb"\1", q) if q else t for q, t in toks]
        if len(vals) != 2:
            self.status("%s BAD LOGIN needs user and password" % tag)
            return
        self.check_login(tag, vals[0], vals[1], "LOGIN")

    def c_LOGOUT(self, tag, args):
        self.send("* BYE fakeimap logging out\r\n")
        self.status("%s OK LOGOUT completed" % tag)
        self.close_gently()

    def c_LIST(self, tag, args):
        for name in self.srv.box:
            self.send('* LIST (\\HasNoChildren) "/" %s\r\n' % name)
        self.status("%s OK LIST completed" % tag)

    c_LSUB = c_LIST

    def mailbox_arg(self, args):
        a = args.strip()
        if a.startswith('"'):
            a = re.match(r'"((?:\\.|[^"\\])*)"', a).group(1)
            a = re.sub(r"\\(.)", r"\1", a)
        else:
            a = a.split(" ")[0]
        if a.upper() == "INBOX":
            a = "INBOX"
        return a

    def c_EXAMINE(self, tag, args, rw=False):
        s = self.srv
        name = self.mailbox_arg(args)
        with s.lock:
            s.examines += 1
            n = s.examines
        if s.scenario == "m365-throttle-examine" and n == 1:
            self.hostile("throttling the first EXAMINE")
            self.status("%s BAD Request is throttled. Suggested Backoff Time: 200 milliseconds" % tag)
            return
        if name not in s.box:
            self.status("%s NO [NONEXISTENT] Mailbox doesn't exist: %s" % (tag, name))
            return
        self.folder = name
        uv, msgs = s.box[name]
        nxt = max([x.uid for x in msgs] + [0]) + 1
        self.send("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Label1 $Work)\r\n"
                  "* OK [PERMANENTFLAGS ()] Read-only mailbox.\r\n"
                  "* %d EXISTS\r\n* 0 RECENT\r\n"
                  "* OK [UIDVALIDITY %d] UIDs valid\r\n"
                  "* OK [UIDNEXT %d] Predicted next UID\r\n" % (len(msgs), uv, nxt))
        self.status("%s OK [%s] %s completed" % (tag, "READ-WRITE" if rw else "READ-ONLY",
                                                  "SELECT" if rw else "EXAMINE"))

    def c_SELECT(self, tag, args):
        self.c_EXAMINE(tag, args, rw=True)

    def c_CLOSE(self, tag, args):
        self.folder = None
        self.status("%s OK CLOSE completed" % tag)

    c_UNSELECT = c_CLOSE

    def c_UID_SEARCH(self, tag, args, uid=True):
        if not self.folder:
            self.status("%s BAD no mailbox selected" % tag)
            return
        msgs = self.srv.box[self.folder][1]
        self.send("* SEARCH%s\r\n" % "".join(
            " %d" % (x.uid if uid else i + 1) for i, x in enumerate(msgs)))
        self.status("%s OK SEARCH completed" % tag)

    def c_SEARCH(self, tag, args):
        self.c_UID_SEARCH(tag, args, uid=False)

    def c_FETCH(self, tag, args):
        self.c_UID_FETCH(tag, args, uid=False)

    # -- FETCH, where the hostility lives --
    def c_UID_FETCH(self, tag, args, uid=True):
        s = self.srv
        if not self.folder:
            self.status("%s BAD no mailbox selected" % tag)
            return
        msgs = s.box[self.folder][1]
        m = re.match(r"(\S+) (\(.*?\)|[A-Za-z0-9.\[\]]+)( \(.*\))?$", args)
        if not m:
            self.status("%s BAD malformed FETCH" % tag)
            return
        items = ITEM_RE.findall(m.group(2).upper())
        if uid:
            want = parse_set(m.group(1), max([x.uid for x in msgs] + [0]))
            sel = [(i + 1, x) for i, x in enumerate(msgs) if x.uid in want]
        else:
            want = parse_set(m.group(1), len(msgs))
            sel = [(i + 1, x) for i, x in enumerate(msgs) if i + 1 in want]
        if uid and "UID" not in items:
            items.insert(0, "UID")
        bodyitem = next((it for it in items if it.startswith(("BODY", "BINARY", "RFC822"))
                         and it not in ("RFC822.SIZE", "BODYSTRUCTURE")), None)
        sc = s.scenario
        if bodyitem is None:
            for seq, x in sel:
                self.send("* %d FETCH (%s)\r\n" % (seq, self.simple_items(x, items)))
            self.status("%s OK FETCH completed" % tag)
            return
        with s.lock:
            s.body_fetches += 1
            nb = s.body_fetches
        first_conn = self.cid == 1
        if nb == 1 and sc == "gmail-throttle":
            self.hostile("throttling the first body FETCH (NO [THROTTLED])")
            self.status("%s NO [THROTTLED] Account exceeded command or bandwidth limits." % tag)
            return
        if nb == 1 and sc == "gmail-throttle-tail":
            self.hostile("throttling the first body FETCH (NO ... [THROTTLED])")
            self.status("%s NO Some messages could not be FETCHed (Failure) [THROTTLED]" % tag)
            return
        if nb == 1 and sc == "m365-throttle":
            self.hostile("throttling the first body FETCH (M365 BAD ... Suggested Backoff Time)")
            self.status("%s BAD Request is throttled. Suggested Backoff Time: 200 milliseconds" % tag)
            return
        if sc == "bye-always" or (sc == "bye-once" and first_conn):
            self.hostile("BYE instead of answering a body FETCH, then close")
            self.send("* BYE [UNAVAILABLE] fakeimap: server shutting down for maintenance\r\n")
            self.close_gently()
        if sc == "out-of-order":
            sel = sel[::-1]
            self.hostile("answering UIDs %s in this order" % [x.uid for _, x in sel])
        for seq, x in sel:
            if sc == "noise":
                self.noise(seq, len(msgs))
            if x.uid == TARGET and self.folder == "INBOX":
                if sc == "missing":
                    self.hostile("no FETCH response for UID %d" % x.uid)
                    continue
                if sc == "garbage":
                    self.hostile("garbage instead of the FETCH response for UID %d" % x.uid)
                    self.send(b")(\x01\x02garbage \xff\xfe not IMAP at all ((\r\n")
                    continue
                if sc in ("huge-literal", "huge-literal-u64"):
                    size = "99999999999" if sc == "huge-literal" else "99999999999999999999999"
                    self.hostile("literal of %s bytes announced for UID %d" % (size, x.uid))
                    self.send(self.head(seq, x, items, bodyitem, override=size))
                    self.send(b"x" * 65536)
                    return   # and silence: the client must give up by itself
                if sc == "disconnect-always" or (sc == "disconnect-once" and first_conn):
                    half = len(x.body) // 2
                    self.send(self.head(seq, x, items, bodyitem))
                    self.send(x.body[:half])
                    self.cut("connection cut after %d of %d bytes of UID %d's literal"
                             % (half, len(x.body), x.uid))
                if sc == "nil-body":
                    self.hostile("NIL body for UID %d" % x.uid)
                    self.send(self.head(seq, x, items, bodyitem, nil=True))
                    continue
                if sc == "double-body":
                    self.hostile("UID %d's body item twice in one FETCH response" % x.uid)
                    name = bodyitem.replace(".PEEK", "")
                    self.send(self.head(seq, x, items, bodyitem))
                    self.send(x.body + (" %s {%d}\r\n" % (name, len(x.body))).encode()
                              + x.body + b")\r\n")
                    continue
                if sc == "duplicate-fetch":
                    self.hostile("UID %d's FETCH response sent twice" % x.uid)
                    self.send(self.head(seq, x, items, bodyitem))
                    self.send(x.body + b")\r\n")
                if sc == "oversize":
                    self.hostile("UID %d: RFC822.SIZE %d, literal %d bytes"
                                 % (x.uid, len(x.body) - 40, len(x.body)))
                    self.send(self.head(seq, x, items, bodyitem, size822=len(x.body) - 40))
                    self.send(x.body + b")\r\n")
                    continue
            self.send(self.head(seq, x, items, bodyitem))
            self.send(x.body + b")\r\n")
        if sc == "noise":
            self.noise(1, len(msgs))
        if sc == "bad-tag":
            self.hostile("an answer tagged zz999, never sent by the client")
            self.status("zz999 OK FETCH completed")
        if sc == "gmail-ok-throttled":
            self.status("%s OK Success [THROTTLED]" % tag)
        else:
            self.status("%s OK FETCH completed" % tag)

    def simple_items(self, x, items, size822=None):
        out = []
        for it in items:
            if it == "UID":
                out.append("UID %d" % x.uid)
            elif it == "FLAGS":
                out.append("FLAGS (%s)" % " ".join(x.flags))
            elif it == "INTERNALDATE":
                out.append('INTERNALDATE "%s"' % x.date)
            elif it == "RFC822.SIZE":
                out.append("RFC822.SIZE %d" % (len(x.body) if size822 is None else size822))
        return " ".join(out)

    def head(self, seq, x, items, bodyitem, override=None, nil=False, size822=None):
        """Everything of a FETCH response up to its body bytes."""
        name = bodyitem.replace(".PEEK", "")
        pre = self.simple_items(x, [i for i in items if i != bodyitem], size822)
        if nil:
            return ("* %d FETCH (%s %s NIL)\r\n" % (seq, pre, name)).encode()
        lit8 = "~" if name.startswith("BINARY") and b"\0" in x.body else ""
        size = override or str(len(x.body))
        return ("* %d FETCH (%s %s %s{%s}\r\n" % (seq, pre, name, lit8, size)).encode()

    def noise(self, seq, exists):
        self.hostile("untagged noise")
        self.send("* %d EXISTS\r\n"
                  "* 0 RECENT\r\n"
                  "* OK [ALERT] fakeimap: noise in the middle of a FETCH\r\n"
                  "* %d FETCH (FLAGS (\\Seen))\r\n"
                  "* XAPPLEPUSHSERVICE aps-version 2 aps-topic com.apple.mobilemail\r\n"
                  "* XNOISE (\"a\" {11}\r\nhello world)\r\n"
                  "* OK still here\r\n" % (exists, seq))


def serve(a):
    make_certs(a.dir)
    srv = Server(a)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(os.path.join(a.dir, "server.pem"), os.path.join(a.dir, "server.key"))
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(16)
    port = ls.getsockname()[1]
    if a.port_file:
        with open(a.port_file + ".tmp", "w") as f:
            f.write("%d\n" % port)
        os.rename(a.port_file + ".tmp", a.port_file)
    print("PORT %d" % port, flush=True)
    srv.log(0, "L:", "listening on 127.0.0.1:%d, scenario %s, mailbox %s"
            % (port, a.scenario, a.mailbox))
    signal.signal(signal.SIGALRM, lambda *_: os._exit(3))
    signal.alarm(a.max_seconds)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))

    def handle(raw, cid):
        try:
            raw.settimeout(60)
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock = ctx.wrap_socket(raw, server_side=True)
        except (OSError, ssl.SSLError) as ex:
            srv.log(cid, "L:", "TLS handshake failed: %s" % ex)
            raw.close()
            return
        c = Conn(srv, sock, cid)
        try:
            c.run()
        except Closed as ex:
            srv.log(cid, "L:", "connection ends: %s" % ex)
        except Exception as ex:   # a bug here must show, not hang the test
            srv.log(cid, "L:", "server error: %r" % ex)
        finally:
            try:
                sock.close()
            except OSError:
                pass

    while True:
        raw, peer = ls.accept()
        with srv.lock:
            srv.nconn += 1
            cid = srv.nconn
        srv.log(cid, "L:", "connection from %s:%d" % peer)
        threading.Thread(target=handle, args=(raw, cid), daemon=True).start()


# ---- reading the log ----------------------------------------------------

LOG_RE = re.compile(r"^(\d+\.\d+) c(\d+) (\S+) (.*)$")


def read_log(path):
    out = []
    with open(path, encoding="latin-1") as f:
        for line in f:
            m = LOG_RE.match(line.rstrip("\n"))
            if m:
                out.append((float(m.group(1)), int(m.group(2)), m.group(3), m.group(4)))
    return out


def retried(a):
    ev = read_log(a.log)
    for i, (t, c, d, text) in enumerate(ev):
        if d == "X:" and text.startswith("throttling"):
            # The throttling answer follows on the same connection.
            ans = next(e for e in ev[i + 1:] if e[1] == c and e[2] == "S:")
            tag = ans[3].split(" ", 1)[0]
            cmd = next(e[3] for e in reversed(ev[:i]) if e[1] == c and e[2] == "C:"
                       and e[3].split(" ", 1)[0] == tag).split(" ", 1)[1]
            for t2, c2, d2, text2 in ev:
                if t2 >= ans[0] and d2 == "C:" and text2.split(" ", 1)[-1] == cmd \
                        and text2.split(" ", 1)[0] != tag:
                    print("%d %s" % (round((t2 - ans[0]) * 1000), cmd))
                    return 0
            print("never retried: %s" % cmd)
            return 1
    print("nothing was throttled")
    return 1


def asked(a):
    n = 0
    for t, c, d, text in read_log(a.log):
        m = re.match(r"\S+ UID FETCH (\S+) \((.*)\)$", text) if d == "C:" else None
        if not m or not re.search(r"BODY|BINARY|RFC822(?!\.SIZE)", m.group(2)):
            continue
        if a.uid in parse_set(m.group(1), 1 << 32):
            n += 1
    print(n)
    return 0


def main():
    ap = argparse.ArgumentParser(description="a scripted hostile IMAP server")
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("certs")
    c.add_argument("dir")
    s = sub.add_parser("serve")
    s.add_argument("--scenario", required=True, choices=SCENARIOS)
    s.add_argument("--dir", required=True)
    s.add_argument("--password-file", required=True)
    s.add_argument("--mailbox", default="full", choices=("base", "full", "big"))
    s.add_argument("--port-file")
    s.add_argument("--log")
    s.add_argument("--max-seconds", type=int, default=300)
    m = sub.add_parser("manifest")
    m.add_argument("--mailbox", default="full", choices=("base", "full", "big"))
    m.add_argument("--omit", action="append")
    r = sub.add_parser("retried")
    r.add_argument("log")
    k = sub.add_parser("asked")
    k.add_argument("log")
    k.add_argument("uid", type=int)
    a = ap.parse_args()
    if a.cmd == "retried":
        return retried(a)
    if a.cmd == "asked":
        return asked(a)
    if a.cmd == "certs":
        make_certs(a.dir)
        return 0
    if a.cmd == "manifest":
        return manifest(a)
    return serve(a)


if __name__ == "__main__":
    sys.exit(main())
