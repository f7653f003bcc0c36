#!/usr/bin/env python3
"""imapread.py - an independent IMAP client for the tests (Python's imaplib,
not mbox-vault's code): reads what a server holds, and changes it.

usage: imapread.py COMMAND --port P --ca CA --user U --passfile F [...]

  manifest             JSON on stdout: every selectable folder (UTF-8 name
                       with '/' as separator) with UIDVALIDITY,
                       HIGHESTMODSEQ, delimiter, special-use and, per UID,
                       sha256 and size of the body, flags (without \\Recent,
                       sorted) and INTERNALDATE as sent.  Folders are
                       opened with EXAMINE and bodies fetched with .PEEK, so
                       reading changes nothing.  Bytes: BODY.PEEK[], or
                       where the server offers BINARY and BINARY.PEEK[] only
                       turns some 0x80 of it back into NUL, BINARY.PEEK[]
                       (mbox-vault's rule); --body binary|body forces one.
  store FOLDER UID OP FLAGS     UID STORE (e.g. +FLAGS "(\\Flagged $Work)")
  expunge FOLDER UID            marks \\Deleted and UID EXPUNGEs it
  append FOLDER FILE FLAGS DATE APPENDs the file's bytes
  create FOLDER                 CREATE
"""
import argparse
import hashlib
import imaplib
import json
import re
import ssl
import sys


def utf7_decode(s):
    out, i = [], 0
    while i < len(s):
        c = s[i]
        if c == "&":
            j = s.index("-", i)
            if j == i + 1:
                out.append("&")
            else:
                b64 = s[i + 1:j].replace(",", "/")
                b64 += "=" * (-len(b64) % 4)
                import base64
                out.append(base64.b64decode(b64).decode("utf-16-be"))
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def utf7_encode(s):
    import base64
    out, buf = [], []

    def flush():
        if buf:
            b = base64.b64encode("".join(buf).encode("utf-16-be")).decode()
            out.append("&" + b.rstrip("=").replace("/", ",") + "-")
            buf.clear()
    for ch in s:
        if 0x20 <= ord(ch) <= 0x7e:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            buf.append(ch)
    flush()
    return "".join(out)


def connect(a):
    ctx = ssl.create_default_context(cafile=a.ca)
    m = imaplib.IMAP4_SSL("127.0.0.1", a.port, ssl_context=ctx)
    with open(a.passfile) as f:
        pw = f.readline().rstrip("\r\n")
    m.login(a.user, pw)
    return m


# imaplib knows no ENABLE; CONDSTORE makes EXAMINE report HIGHESTMODSEQ.
imaplib.Commands.setdefault("ENABLE", ("AUTH",))


LIST_RE = re.compile(rb'\((?P<attrs>[^)]*)\) (?P<delim>"(?:\\.|[^"])*"|NIL) (?P<name>.*)$')


def folders(m):
    typ, data = m.list()
    res = []
    i = 0
    while i < len(data):
        item = data[i]
        if isinstance(item, tuple):
            line, lit = item
            mm = LIST_RE.match(line.rstrip(b"{0123456789}").rstrip() + b" x")
            attrs = mm.group("attrs").decode()
            delim = mm.group("delim")
            name = lit.decode()
        else:
            mm = LIST_RE.match(item)
            attrs = mm.group("attrs").decode()
            delim = mm.group("delim")
            name = mm.group("name").decode()
            if name.startswith('"'):
                name = name[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        d = None if delim == b"NIL" else delim[1:-1].decode().replace("\\\\", "\\")
        res.append((name, d, attrs.split()))
        i += 1
    return res


def quote(name):
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


FETCH_RE = re.compile(rb"UID (\d+)|FLAGS \(([^)]*)\)|INTERNALDATE \"([^\"]*)\"")


def manifest(a):
    m = connect(a)
    # After login: Dovecot lists BINARY, CONDSTORE... only then.
    typ, data = m.capability()
    caps = data[0].decode().upper().split()
    binary = a.body is None and "BINARY" in caps
    # BODY[] is the stored message; BINARY[] decodes base64 and QP parts,
    # so it is used only where it restores NULs that BODY[] shows as 0x80
    # (same length, every difference 0x80 -> 0x00): the rule mbox-vault
    # documents, implemented here independently.
    item = "BODY.PEEK[] BINARY.PEEK[]" if binary else (
        "BINARY.PEEK[]" if a.body == "binary" else "BODY.PEEK[]")
    out = {"body": item, "folders": {}}
    if "CONDSTORE" in caps:
        m._simple_command("ENABLE", "CONDSTORE")
    for name, delim, attrs in folders(m):
        if any(x.lower() in ("\\noselect", "\\nonexistent") for x in attrs):
            continue
        disp = utf7_decode(name)
        if delim and delim != "/":
            disp = disp.replace(delim, "/")
        typ, data = m.select(quote(name), readonly=True)
        if typ != "OK":
            raise SystemExit("EXAMINE %s: %s" % (name, data))
        uv = int(m.untagged_responses.get("UIDVALIDITY", [b"0"])[-1])
        hms = m.untagged_responses.get("HIGHESTMODSEQ", [b"0"])[-1]
        msgs = {}
        typ, data = m.uid("FETCH", "1:*", "(UID FLAGS INTERNALDATE %s)" % item)
        cur = None
        for part in data:
            if not isinstance(part, tuple):
                continue
            head, lit = part
            if re.search(rb"UID \d+", head):
                uid = flags = date = None
                for g in FETCH_RE.finditer(head):
                    if g.group(1):
                        uid = int(g.group(1))
                    elif g.group(2) is not None:
                        flags = sorted(f for f in g.group(2).decode().split()
                                       if f.lower() != "\\recent")
                    else:
                        date = g.group(3).decode()
                cur = {"uid": uid, "flags": flags, "date": date, "body": None, "binary": None}
                msgs[str(uid)] = cur
            if cur is None:
                continue
            if re.search(rb"BINARY\[\]\s*~?\{\d+\}$", head):
                cur["binary"] = lit
            else:
                cur["body"] = lit
        for uid, c in list(msgs.items()):
            body, bn = c["body"], c["binary"]
            keep = body if body is not None else bn
            if body is not None and bn is not None and len(bn) == len(body) and bn != body and all(
                    x == y or (x == 0x80 and y == 0) for x, y in zip(body, bn)):
                keep = bn
            msgs[uid] = {"sha256": hashlib.sha256(keep).hexdigest(), "size": len(keep),
                         "flags": c["flags"], "date": c["date"]}
        out["folders"][disp] = {"name": name, "delim": delim, "uidvalidity": uv,
                                "highestmodseq": int(hms), "special": sorted(
                                    x for x in attrs if x.lower() not in (
                                        "\\hasnochildren", "\\haschildren",
                                        "\\subscribed", "\\marked", "\\unmarked")),
                                "messages": msgs}
    m.logout()
    json.dump(out, sys.stdout, indent=1, sort_keys=True)


def server_name(m, folder):
    """The server's bytes for a UTF-8 folder path with '/' between levels."""
    typ, data = m.list('""', '""')
    mm = LIST_RE.match(data[0]) if data and data[0] else None
    d = "/" if not mm or mm.group("delim") == b"NIL" else mm.group("delim")[1:-1].decode().replace("\\\\", "\\")
    return d.join(utf7_encode(c) for c in folder.split("/"))


def select(m, folder):
    typ, data = m.select(quote(server_name(m, folder)))
    if typ != "OK":
        raise SystemExit("SELECT %s: %s" % (folder, data))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd")
    ap.add_argument("args", nargs="*")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--passfile", required=True)
    ap.add_argument("--body", choices=("binary", "body"))
    a = ap.parse_args()
    if a.cmd == "manifest":
        return manifest(a)
    m = connect(a)
    if a.cmd == "store":
        folder, uid, op, flags = a.args
        select(m, folder)
        typ, data = m.uid("STORE", uid, op, flags)
    elif a.cmd == "expunge":
        folder, uid = a.args
        select(m, folder)
        m.uid("STORE", uid, "+FLAGS", "(\\Deleted)")
        typ, data = m.uid("EXPUNGE", uid)
    elif a.cmd == "append":
        folder, path, flags, date = a.args
        with open(path, "rb") as f:
            body = f.read()
        typ, data = m.append(quote(server_name(m, folder)), flags, '"%s"' % date, body)
    elif a.cmd == "create":
        typ, data = m.create(quote(server_name(m, a.args[0])))
    else:
        raise SystemExit("unknown command " + a.cmd)
    if typ != "OK":
        raise SystemExit("%s failed: %s" % (a.cmd, data))
    m.logout()


if __name__ == "__main__":
    main()
