"""mvlib.py - the independent reader shared by the end-to-end tests.

Everything here is Python's standard library reading mailboxes, export
trees and archive bytes on its own terms (never through mbox-vault's
parsers), plus a runner that drives the real binary and notices crashes
and sanitizer reports.  Helpers print "PASS: ..." / "FAIL: ... (detail)".
"""
import base64
import calendar
import os
import re
import subprocess
import sys
import time

# ---- reporting -----------------------------------------------------------


class Report:
    """Prints PASS/FAIL lines and counts failures."""

    def __init__(self):
        self.nfail = 0
        self.npass = 0

    def ok(self, name):
        self.npass += 1
        print("PASS: " + name, flush=True)

    def bad(self, name, detail=""):
        self.nfail += 1
        d = (" (" + detail.replace("\n", " ")[:600] + ")") if detail else ""
        print("FAIL: " + name + d, flush=True)

    def check(self, cond, name, detail=""):
        if cond:
            self.ok(name)
        else:
            self.bad(name, detail)
        return cond

    def all(self, name, problems, limit=8):
        """One PASS line if problems is empty, else one FAIL naming the
        first few."""
        if not problems:
            self.ok(name)
            return True
        more = "" if len(problems) <= limit else "; ... %d more" % (len(problems) - limit)
        self.bad(name, "%d problem(s): " % len(problems) + "; ".join(problems[:limit]) + more)
        return False

    def exit(self):
        sys.exit(1 if self.nfail else 0)


SAN = re.compile(rb"ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer)"
                 rb"|runtime error:|SUMMARY: (Address|Leak|UndefinedBehavior)Sanitizer")


def crashed(rc, err):
    """A status of a signal (negative here) or >= 128, or a sanitizer report."""
    return rc < 0 or rc >= 128 or SAN.search(err) is not None


class Runner:
    """Runs the binary; remembers every crash or sanitizer report."""

    def __init__(self, rep, mv=None):
        self.rep = rep
        self.mv = mv or os.environ.get("MV") or os.environ["MV_ASAN"]
        self.count = 0
        self.crashes = []

    def run(self, args, mv=None, env=None, stdin=None, timeout=600):
        cmd = [mv or self.mv] + [str(a) for a in args]
        e = None
        if env is not None:
            e = dict(os.environ)
            e.update(env)
        for attempt in range(60):
            try:
                p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   stdin=subprocess.DEVNULL if stdin is None else stdin,
                                   env=e, timeout=timeout)
                break
            except (PermissionError, FileNotFoundError, OSError):
                # The binary is being relinked by a concurrent build.
                if attempt == 59:
                    raise
                time.sleep(1)
        self.count += 1
        if crashed(p.returncode, p.stderr):
            first = [l for l in p.stderr.decode("utf-8", "replace").splitlines()
                     if "ERROR" in l or "runtime error" in l or "SUMMARY" in l][:2]
            self.crashes.append("%s -> exit %d %s" % (" ".join(cmd[1:])[:200], p.returncode,
                                                      " ".join(first)))
        return p

    def summary(self, what="every command"):
        self.rep.all("%s ran without a crash or sanitizer report (%d runs)" % (what, self.count),
                     self.crashes, limit=5)


def errtext(p):
    return p.stderr.decode("utf-8", "replace").strip().replace("\n", " | ")[:300]


# ---- modified UTF-7 (RFC 3501 5.1.3) -------------------------------------


def utf7_decode(b):
    """bytes in modified UTF-7 -> str."""
    out = []
    i = 0
    while i < len(b):
        c = b[i:i + 1]
        if c == b"&":
            j = b.index(b"-", i)
            if j == i + 1:
                out.append("&")
            else:
                s = b[i + 1:j].replace(b",", b"/")
                s += b"=" * (-len(s) % 4)
                out.append(base64.b64decode(s).decode("utf-16-be"))
            i = j + 1
        else:
            out.append(c.decode("ascii"))
            i += 1
    return "".join(out)


def utf7_encode(s):
    """str -> modified UTF-7 bytes."""
    out = bytearray()
    run = []

    def flush():
        if run:
            u = "".join(run).encode("utf-16-be")
            out.extend(b"&" + base64.b64encode(u).rstrip(b"=").replace(b"/", b",") + b"-")
            run.clear()

    for ch in s:
        if 0x20 <= ord(ch) <= 0x7e:
            flush()
            out.extend(b"&-" if ch == "&" else ch.encode())
        else:
            run.append(ch)
    flush()
    return bytes(out)


# ---- dates ---------------------------------------------------------------

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def imap_date(t):
    """INTERNALDATE of Unix time t in UTC, day space-padded (RFC 9051)."""
    g = time.gmtime(t)
    return "%2d-%s-%04d %02d:%02d:%02d +0000" % (g.tm_mday, MONTHS[g.tm_mon - 1], g.tm_year,
                                                 g.tm_hour, g.tm_min, g.tm_sec)


def asctime_utc(t):
    g = time.gmtime(t)
    return "%s %s %2d %02d:%02d:%02d %d" % (DAYS[g.tm_wday], MONTHS[g.tm_mon - 1], g.tm_mday,
                                            g.tm_hour, g.tm_min, g.tm_sec, g.tm_year)


def parse_asctime(s):
    """'Mon Jan  1 00:00:00 2024' -> Unix time (UTC)."""
    return calendar.timegm(time.strptime(" ".join(s.split()), "%a %b %d %H:%M:%S %Y"))


# ---- Maildir (Dovecot Maildir++) -----------------------------------------

FLAG_NAME = {"S": "\\Seen", "R": "\\Answered", "F": "\\Flagged", "T": "\\Deleted",
             "D": "\\Draft", "P": "$Passed"}
SYS_LETTERS = "DFPRST"


def read_keywords_file(path):
    names = {}
    try:
        with open(path, "rb") as f:
            for line in f.read().split(b"\n"):
                m = re.match(rb"^(0|[1-9][0-9]?) (\S+)$", line)
                if m and int(m.group(1)) < 26 and int(m.group(1)) not in names:
                    names[int(m.group(1))] = m.group(2).decode()
    except FileNotFoundError:
        pass
    return names


def parse_info(name):
    """file name -> (base, system flag letters, keyword letters)."""
    base, sep, info = name.partition(":")
    sysf, kwl = "", ""
    if sep and info.startswith("2,"):
        for ch in info[2:]:
            if ch in SYS_LETTERS:
                sysf += ch
            elif "a" <= ch <= "z":
                kwl += ch
    return base, sysf, kwl


def read_maildir(root):
    """A Maildir++ tree -> list of folders, each a dict:
    raw (bytes name, b'INBOX' for the root), display (str as ls shows it),
    path, messages (sorted by base name, cur/ copy kept over new/), each
    message a dict: base, name, path, sys (set of letters), keywords (set of
    names), mtime (int), data (bytes, read lazily via load())."""
    folders = []

    def scan(raw, path):
        kw = read_keywords_file(os.path.join(path, "dovecot-keywords"))
        msgs = {}
        for sub in ("new", "cur"):
            d = os.path.join(path, sub)
            if not os.path.isdir(d):
                continue
            for name in os.listdir(d):
                p = os.path.join(d, name)
                if name.startswith(".") or not os.path.isfile(p):
                    continue
                base, sysf, kwl = parse_info(name)
                msgs[base] = {
                    "base": base, "name": name, "path": p, "sub": sub,
                    "sys": set(sysf),
                    "keywords": set(kw[ord(c) - 97] for c in kwl if (ord(c) - 97) in kw),
                    "mtime": int(os.stat(p).st_mtime),
                    "size": os.stat(p).st_size,
                }
        disp = "INBOX" if raw == b"INBOX" else utf7_decode(raw).replace(".", "/")
        folders.append({"raw": raw, "display": disp, "path": path,
                        "messages": [msgs[k] for k in sorted(msgs, key=lambda s: s.encode())],
                        "kwmap": kw})

    scan(b"INBOX", root)
    subs = []
    for name in os.listdir(root):
        p = os.path.join(root, name)
        if name.startswith(".") and name not in (".", "..") and os.path.isdir(p) and \
                (os.path.isdir(os.path.join(p, "cur")) or os.path.isdir(os.path.join(p, "new"))):
            subs.append(name)
    for name in sorted(subs, key=lambda s: s.encode()):
        scan(name[1:].encode(), os.path.join(root, name))
    return folders


def load(path):
    with open(path, "rb") as f:
        return f.read()


# ---- mbox ----------------------------------------------------------------

FROM_RE = re.compile(rb"^(>+)(From )", re.M)


def mboxrd_unquote(b):
    """Removes one '>' from every line matching ^>+From (mboxrd)."""
    return FROM_RE.sub(lambda m: m.group(1)[1:] + m.group(2), b)


def read_mbox(path):
    """Python's own reader: list of (from_line without 'From ', get_bytes)."""
    import mailbox
    mb = mailbox.mbox(path, create=False)
    out = []
    try:
        for key in mb.iterkeys():
            raw_from = mb.get_bytes(key, from_=True).split(b"\n", 1)[0]
            out.append((raw_from[5:].rstrip(b"\r"), mb.get_bytes(key)))
    finally:
        mb.close()
    return out


# ---- the binary's listings -------------------------------------------------

LS_ENTRY = re.compile(r"^  (?P<folder>.*)/(?P<uid>\d+)  #(?P<id>[0-9a-f]{16})  +(?P<size>\d+)  "
                      r"(?P<date>.{26})  (?P<flags>.*)$")
LS_FOLDER = re.compile(r"^(?P<name>.*)  \((?P<n>\d+) messages, UIDVALIDITY (?P<uv>\d+)\)$")


def parse_ls(text):
    """ls output -> {"header": first line, "folders": {display: {"n", "uidvalidity",
    "entries": {uid: {...}}}}, "refs": [(folder, uid)] in listing order}."""
    lines = text.split("\n")
    res = {"header": lines[0] if lines else "", "folders": {}, "refs": [], "order": []}
    cur = None
    for line in lines[1:]:
        if not line:
            continue
        m = LS_ENTRY.match(line)
        if m:
            uid = int(m.group("uid"))
            fl = m.group("flags").split()
            res["folders"].setdefault(m.group("folder"), {"n": None, "uidvalidity": None,
                                                          "entries": {}})
            res["folders"][m.group("folder")]["entries"][uid] = {
                "id": m.group("id"), "size": int(m.group("size")), "date": m.group("date"),
                "flags": fl}
            res["refs"].append((m.group("folder"), uid))
            continue
        m = LS_FOLDER.match(line)
        if m:
            cur = m.group("name")
            res["folders"].setdefault(cur, {"entries": {}})
            res["folders"][cur]["n"] = int(m.group("n"))
            res["folders"][cur]["uidvalidity"] = int(m.group("uv"))
            res["order"].append(cur)
    return res


def ls(runner, archive, extra=()):
    p = runner.run(["ls", archive] + list(extra))
    return p, parse_ls(p.stdout.decode("utf-8", "surrogateescape"))


# ---- archive layout (format-spec sections 1, 2) ----------------------------

MAGIC = b"\x89MBXVLT\n"
RTYPES = {1: "HEADER", 2: "CHUNK", 3: "INDEX_PAGE", 4: "INDEX_ROOT", 5: "STANZA", 6: "COMMIT"}


def records(data):
    """Walks the frames: list of dicts type, flags, len, seq, off, end.
    Stops at the first frame that does not fit."""
    out = []
    off = len(MAGIC)
    seq = 0
    while off + 16 <= len(data):
        t = data[off]
        ln = int.from_bytes(data[off + 4:off + 8], "little")
        sq = int.from_bytes(data[off + 8:off + 16], "little")
        end = off + 16 + ln + 32
        if end > len(data):
            break
        out.append({"type": t, "name": RTYPES.get(t, "?%d" % t), "flags": data[off + 1],
                    "len": ln, "seq": sq, "off": off, "end": end, "index": seq})
        off = end
        seq += 1
    return out


def commit_number(data, rec):
    p = rec["off"] + 16
    return int.from_bytes(data[p:p + 4], "little"), data[p + 4]


# ---- inclusion proofs (format-spec 11.1, 6.2, 6.4) --------------------------

ENTRY_LABEL = b"mbox-vault/v1 entry"
PROOF_MAGIC = b"mbox-vault proof v1"


def proof_parse(text):
    """A proof file's bytes -> dict: the header fields (bytes values, keyed
    by name: archive, signer, version, commit, entry, entry-index,
    entry-path, message-key), chunks (list of [seq bytes, base64 bytes,
    path-line value bytes]) and note (the bytes after the 'checkpoint:'
    line).  Raises ValueError if the layout is not the spec's."""
    head, sep, note = text.partition(b"\ncheckpoint:\n")
    if not sep:
        raise ValueError("no checkpoint line")
    lines = head.split(b"\n")
    if lines[0] != PROOF_MAGIC:
        raise ValueError("no magic line")
    p = {"chunks": [], "note": note}
    names = ["archive", "signer", "version", "commit", "entry", "entry-index", "entry-path",
             "message-key"]
    i = 1
    for n in names:
        pre = n.encode() + (b":" if n.endswith("path") else b": ")
        if not lines[i].startswith(pre):
            raise ValueError("line %d is not %s" % (i + 1, n))
        p[n] = lines[i][len(pre):]
        i += 1
    while i < len(lines):
        if not lines[i].startswith(b"chunk: ") or not lines[i + 1].startswith(b"chunk-path:"):
            raise ValueError("line %d is not a chunk / chunk-path pair" % (i + 1))
        seq, b64 = lines[i][7:].split(b" ", 1)
        p["chunks"].append([seq, b64, lines[i + 1][len(b"chunk-path:"):]])
        i += 2
    return p


def proof_text(p):
    """The inverse of proof_parse."""
    out = [PROOF_MAGIC]
    for n in ["archive", "signer", "version", "commit", "entry", "entry-index", "entry-path",
              "message-key"]:
        out.append(n.encode() + (b":" if n.endswith("path") else b": ") + p[n])
    for seq, b64, path in p["chunks"]:
        out.append(b"chunk: " + seq + b" " + b64)
        out.append(b"chunk-path:" + path)
    return b"\n".join(out) + b"\ncheckpoint:\n" + p["note"]


def entry_decode(leaf):
    """Entry leaf data (6.4) -> dict with every field of 6.4 and 6.2; the
    blob reference stays raw bytes ("blobref"), its fields decoded too."""
    if not leaf.startswith(ENTRY_LABEL):
        raise ValueError("no entry label")
    o = len(ENTRY_LABEL)

    def take(n):
        nonlocal o
        b = leaf[o:o + n]
        if len(b) != n:
            raise ValueError("entry cut short")
        o += n
        return b

    def u(n):
        return int.from_bytes(take(n), "little")

    d = {"commit": u(4)}
    d["folder"] = take(u(2))
    d["delim"] = u(1)
    d["uidvalidity"] = u(4)
    d["uid"] = u(4)
    d["flags"] = u(4)
    d["date"] = take(u(1))
    d["keywords"] = [take(u(1)) for _ in range(u(2))]
    d["srcmeta"] = take(u(2))
    d["blobref"] = take(101)
    if o != len(leaf):
        raise ValueError("%d bytes after the entry" % (len(leaf) - o))
    b = d["blobref"]
    d["blob_id"] = b[0:16]
    d["first_seq"] = int.from_bytes(b[16:24], "little")
    d["nchunks"] = int.from_bytes(b[32:36], "little")
    d["raw_size"] = int.from_bytes(b[36:44], "little")
    return d


def entry_encode(d):
    """The inverse of entry_decode (uses "blobref", not its decoded fields)."""
    def le(v, n):
        return v.to_bytes(n, "little")

    out = bytearray(ENTRY_LABEL)
    out += le(d["commit"], 4) + le(len(d["folder"]), 2) + d["folder"] + le(d["delim"], 1)
    out += le(d["uidvalidity"], 4) + le(d["uid"], 4) + le(d["flags"], 4)
    out += le(len(d["date"]), 1) + d["date"] + le(len(d["keywords"]), 2)
    for k in d["keywords"]:
        out += le(len(k), 1) + k
    out += le(len(d["srcmeta"]), 2) + d["srcmeta"] + d["blobref"]
    return bytes(out)


def b64d(b):
    return base64.b64decode(b, validate=True)


def b64e(b):
    return base64.b64encode(b)


def _proof_edit(args):
    """proof-edit IN OUT OP [ARG]: writes a copy of proof IN with one change.
    OPs: entry-folder NAME, entry-flags N, entry-date TEXT, entry-uid N,
    entry-keywords K1,K2 (empty: none), flip FIELD (one bit of the decoded
    base64 FIELD: commit, entry, message-key, signer, chunk0, chunkN for the
    last chunk), version N, entry-index N, drop-chunk I, swap-chunks, and
    take FIELD[,FIELD...] OTHER (those fields from proof OTHER; FIELD is a
    header field, "chunks" or "note")."""
    src, dst, op = args[0], args[1], args[2]
    arg = args[3] if len(args) > 3 else None
    p = proof_parse(load(src))
    if op.startswith("entry-"):
        d = entry_decode(b64d(p["entry"]))
        if op == "entry-folder":
            d["folder"] = arg.encode()
        elif op == "entry-flags":
            d["flags"] = int(arg)
        elif op == "entry-date":
            d["date"] = arg.encode()
        elif op == "entry-uid":
            d["uid"] = int(arg)
        elif op == "entry-keywords":
            d["keywords"] = [k.encode() for k in arg.split(",") if k]
        elif op == "entry-index":
            p["entry-index"] = arg.encode()
            d = None
        else:
            raise SystemExit("unknown op " + op)
        if d is not None:
            p["entry"] = b64e(entry_encode(d))
    elif op == "flip":
        if arg.startswith("chunk"):
            k = 0 if arg == "chunk0" else len(p["chunks"]) - 1
            raw = bytearray(b64d(p["chunks"][k][1]))
            raw[len(raw) // 2] ^= 0x01
            p["chunks"][k][1] = b64e(bytes(raw))
        else:
            raw = bytearray(b64d(p[arg]))
            raw[len(raw) // 2] ^= 0x01
            p[arg] = b64e(bytes(raw))
    elif op == "version":
        p["version"] = arg.encode()
    elif op == "drop-chunk":
        del p["chunks"][int(arg)]
    elif op == "swap-chunks":
        p["chunks"][0], p["chunks"][1] = p["chunks"][1], p["chunks"][0]
    elif op == "take":
        other = proof_parse(load(args[4]))
        for f in arg.split(","):
            p[f] = other[f]
    else:
        raise SystemExit("unknown op " + op)
    with open(dst, "wb") as f:
        f.write(proof_text(p))


def _proof_info(args):
    """proof-info FILE: prints key=value lines about a proof."""
    p = proof_parse(load(args[0]))
    d = entry_decode(b64d(p["entry"]))
    print("chunks=%d" % len(p["chunks"]))
    print("entry_nchunks=%d" % d["nchunks"])
    print("version=%s" % p["version"].decode())
    print("entry_commit=%d" % d["commit"])
    print("folder=%s" % d["folder"].decode("utf-8", "replace"))
    print("uid=%d" % d["uid"])
    print("flags=%d" % d["flags"])
    print("date=%s" % d["date"].decode("ascii", "replace"))
    print("raw_size=%d" % d["raw_size"])
    print("message_key=%s" % b64d(p["message-key"]).hex())
    print("archive=%s" % p["archive"].decode())


def _secret_search(args):
    """secret-search FILE HEX...: prints every secret (hex) found in FILE as
    raw bytes, lower/upper hex or base64 (standalone, or inside any base64
    token of the file, decoded)."""
    data = load(args[0])
    tokens = [data]
    for t in re.findall(rb"[A-Za-z0-9+/]{16,}={0,2}", data):
        for cut in range(4):
            s = t[cut:]
            s = s[:len(s) - len(s) % 4]
            try:
                tokens.append(base64.b64decode(s))
            except ValueError:
                pass
    for h in args[1:]:
        sec = bytes.fromhex(h)
        forms = [sec, h.lower().encode(), h.upper().encode(), base64.b64encode(sec).rstrip(b"=")]
        if any(f in t for f in forms for t in tokens):
            print(h)


def _archive_secrets(args):
    """header-stanzas ARCHIVE: hex of each 16-byte window start of the
    header's stanza area (wrapped keys), one line per 24-byte slice."""
    data = load(args[0])
    recs = records(data)
    h = recs[0]
    payload = data[h["off"] + 16:h["off"] + 16 + h["len"]]
    area = payload[66:len(payload) - 32]
    for i in range(0, len(area) - 24, 12):
        print(area[i:i + 24].hex())


def _record_types(args):
    """record-types ARCHIVE [FROM_OFFSET]: names of the records whose frame
    starts at or after FROM_OFFSET, one per line."""
    data = load(args[0])
    start = int(args[1]) if len(args) > 1 else 0
    for r in records(data):
        if r["off"] >= start:
            print(r["name"])


def _flip_last(args):
    """flip-last ARCHIVE TYPE: flips one byte in the middle of the payload
    of the last record of TYPE (e.g. INDEX_PAGE), in place; prints that
    record's offset (what error messages name)."""
    data = bytearray(load(args[0]))
    r = [x for x in records(data) if x["name"] == args[1]][-1]
    data[r["off"] + 16 + r["len"] // 2] ^= 0xff
    with open(args[0], "r+b") as f:
        f.write(data)
    print(r["off"])


if __name__ == "__main__":
    _cmds = {"proof-edit": _proof_edit, "proof-info": _proof_info,
             "secret-search": _secret_search, "header-stanzas": _archive_secrets,
             "record-types": _record_types, "flip-last": _flip_last}
    if len(sys.argv) < 2 or sys.argv[1] not in _cmds:
        sys.exit("usage: mvlib.py " + "|".join(_cmds) + " ARGS...")
    _cmds[sys.argv[1]](sys.argv[2:])
