#!/usr/bin/env python3
"""localpush.py - the independent side of t45-local-push.sh.

Reads Maildir++ trees and mbox files with Python's standard library (and
mvlib's small readers built on it), never through mbox-vault, and prints
PASS:/FAIL: lines.  Subcommands:

  maildir-same SRC OUT LABEL     every folder of the Maildir SRC is in OUT with
                                 the same messages (bytes, flags, keywords,
                                 mtime), none twice and nothing else
  mbox-same SRC OUT LABEL        the mbox tree OUT (push mbox:) holds exactly
                                 SRC's messages: bytes (plus the LF mbox adds
                                 after a message whose last byte is not LF),
                                 From_ line date = the source file's mtime
  copy-some SRC OUT              copies every other message of SRC into OUT by
                                 hand (new names, today's mtime); prints count
  tamper-maildir OUT             deletes one message, alters one (same size and
                                 mtime), adds an extra one, changes a flag
  tamper-mbox FILE               drops one message, alters one, adds an extra
  verify-json FILE KEY=N...      the result line of `verify --json` output
  keywords27 MBOX                writes an mbox whose 2 messages carry 27
                                 distinct keywords (X-Keywords)
"""
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mvlib  # noqa: E402

rep = mvlib.Report()


def maildir_index(root):
    """display -> list of (bytes, sys letters, keywords, mtime, path)."""
    out = {}
    for f in mvlib.read_maildir(root):
        msgs = []
        for m in f["messages"]:
            msgs.append((mvlib.load(m["path"]), "".join(sorted(m["sys"])),
                         tuple(sorted(k.lower() for k in m["keywords"])), m["mtime"], m["path"]))
        out[f["display"]] = msgs
    return out


def all_files(root):
    """Every message file in cur/ or new/ under root (the reader above keeps
    one per base name; duplicates must be seen too)."""
    n = 0
    for dirpath, dirs, files in os.walk(root):
        if os.path.basename(dirpath) in ("cur", "new"):
            n += len([x for x in files if not x.startswith(".")])
    return n


def maildir_same(src, out, label, what="all"):
    """what "bytes": only the bytes count (hand-copied files keep neither
    the source's mtime nor, necessarily, its flags)."""
    a, b = maildir_index(src), maildir_index(out)
    problems = []
    k = 1 if what == "bytes" else 4
    for disp, msgs in a.items():
        if disp not in b:
            problems.append("folder %r missing" % disp)
            continue
        want = sorted(m[:k] for m in msgs)
        got = sorted(m[:k] for m in b[disp])
        if want != got:
            wb = sorted(m[0] for m in msgs)
            gb = sorted(m[0] for m in b[disp])
            what = "bytes" if wb != gb else "flags, keywords or mtime"
            problems.append("folder %r: %d messages, target %d, %s differ" %
                            (disp, len(want), len(got), what))
    for disp in b:
        if disp not in a:
            problems.append("extra folder %r" % disp)
    nsrc = sum(len(m) for m in a.values())
    nfiles = all_files(out)
    if nfiles != nsrc:
        problems.append("%d message files in the target, %d in the source" % (nfiles, nsrc))
    rep.all("%s: the target Maildir holds every source message once, byte for byte%s "
            "(%d messages)" % (label, "" if what == "bytes" else
                               ", with its flags, keywords and mtime", nsrc), problems)


def mbox_path(out, disp):
    return os.path.join(out, disp + ".mbox")


def mbox_same(src, out, label):
    a = maildir_index(src)
    problems = []
    n = 0
    for disp, msgs in a.items():
        p = mbox_path(out, disp)
        if not os.path.isfile(p):
            problems.append("no file %r" % p)
            continue
        got = []
        for frm, data in mvlib.read_mbox(p):
            d = frm.split(b" ", 1)[1].decode() if b" " in frm else ""
            try:
                when = mvlib.parse_asctime(d)
            except ValueError:
                when = None
            got.append((mvlib.mboxrd_unquote(data), when))
        want = []
        for m in msgs:
            data = m[0]
            if data and not data.endswith(b"\n"):
                data += b"\n"
            want.append((data, m[3]))
        n += len(want)
        if sorted(want, key=repr) != sorted(got, key=repr):
            problems.append("%r: %d messages, file has %d; bytes or From_ dates differ" %
                            (p, len(want), len(got)))
    rep.all("%s: every mbox file holds its folder's messages exactly once, byte for byte "
            "(Python's mailbox.mbox, mboxrd), with the From_ line date = INTERNALDATE "
            "(%d messages)" % (label, n), problems)


def copy_some(src, out):
    a = mvlib.read_maildir(src)
    n = 0
    for f in a:
        dst = out if f["raw"] == b"INBOX" else os.path.join(out, "." + f["raw"].decode())
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(dst, sub), exist_ok=True)
        for i, m in enumerate(f["messages"]):
            if i % 2:
                continue
            info = m["name"].partition(":")[2]
            shutil.copyfile(m["path"], os.path.join(dst, "cur", "hand-%d:%s" % (n, info or "2,")))
            n += 1
    print(n)


def tamper_maildir(out):
    inbox = os.path.join(out, "cur")
    names = sorted(x for x in os.listdir(inbox) if not x.startswith("."))
    # Small messages with a letter to change and S to drop/flag to add.
    small = [x for x in names if 20 < os.path.getsize(os.path.join(inbox, x)) < 5000]
    gone, alt, flag = small[0], small[1], small[2]
    os.unlink(os.path.join(inbox, gone))
    p = os.path.join(inbox, alt)
    st = os.stat(p)
    data = bytearray(mvlib.load(p))
    i = len(data) - 2
    data[i] = ord("X") if data[i] != ord("X") else ord("Y")
    with open(p, "wb") as f:
        f.write(data)
    os.utime(p, (st.st_atime, st.st_mtime))
    base, _, info = flag.partition(":")
    letters = info[2:] if info.startswith("2,") else ""
    newl = "".join(sorted(set(letters) ^ {"F"}))
    os.rename(os.path.join(inbox, flag), os.path.join(inbox, base + ":2," + newl))
    with open(os.path.join(inbox, "extra.1:2,S"), "wb") as f:
        f.write(b"Subject: not from the archive\n\nextra\n")
    print("deleted %s, altered %s, flag F toggled on %s, added extra.1" % (gone, alt, flag))


def tamper_mbox(path):
    data = mvlib.load(path)
    starts = [0] + [i + 1 for i in range(len(data)) if data[i:i + 1] == b"\n" and
                    data[i + 1:i + 6] == b"From "]
    chunks = [data[s:e] for s, e in zip(starts, starts[1:] + [len(data)])]
    assert len(chunks) >= 4, "need 4 messages"
    del chunks[1]
    # A message with a body to change: the byte before its final "\n\n".
    j = next(k for k in range(1, len(chunks))
             if len(chunks[k]) - chunks[k].index(b"\n") > 20 and chunks[k].endswith(b"\n\n"))
    c = bytearray(chunks[j])
    i = len(c) - 3
    c[i] = ord("X") if c[i] != ord("X") else ord("Y")
    chunks[j] = bytes(c)
    chunks.append(b"From someone@example Thu Jan  1 00:00:00 2015\nSubject: extra\n\nextra\n\n")
    # Another year in the first From_ line: same bytes, another date.
    nl = chunks[0].index(b"\n")
    line = bytearray(chunks[0][:nl])
    line[-1] = ord("0") + (line[-1] - ord("0") + 1) % 10
    chunks[0] = bytes(line) + chunks[0][nl:]
    with open(path, "wb") as f:
        f.write(b"".join(chunks))
    print("dropped message 2, altered message %d, added one, changed the year of message 1"
          % (j + 2))


def verify_json(path, want):
    res = None
    kinds = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                o = json.loads(line)
            except ValueError:
                rep.bad("verify --json prints only JSON lines", line[:200])
                return
            if o.get("event") == "result":
                res = o
            elif o.get("event") in ("missing", "extra", "altered", "flags", "date"):
                kinds[o["event"]] = kinds.get(o["event"], 0) + 1
    if not rep.check(res is not None, "verify --json ends with a result line"):
        return
    bad = []
    for kv in want:
        k, v = kv.split("=")
        if k == "match":
            if res["match"] != (v == "true"):
                bad.append("match %s, want %s" % (res["match"], v))
            continue
        if res.get(k) != int(v):
            bad.append("%s %s, want %s" % (k, res.get(k), v))
        ev = "date" if k == "dates" else k
        if kinds.get(ev, 0) != int(v):
            bad.append("%d '%s' lines, want %s" % (kinds.get(ev, 0), ev, v))
    rep.all("verify --json reports %s" % " ".join(want), bad)


def keywords27(path):
    kw1 = ",".join("kw%02d" % i for i in range(1, 21))
    kw2 = ",".join("kw%02d" % i for i in range(18, 28))
    with open(path, "wb") as f:
        f.write(b"From a@example Mon Jan  1 00:00:00 2024\nX-Keywords: " + kw1.encode() +
                b"\nSubject: 20 keywords\n\none\n\n")
        f.write(b"From b@example Tue Jan  2 00:00:00 2024\nX-Keywords: " + kw2.encode() +
                b"\nSubject: 10 keywords, 7 new\n\ntwo\n\n")


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "maildir-same":
        maildir_same(*args)
    elif cmd == "mbox-same":
        mbox_same(*args)
    elif cmd == "copy-some":
        copy_some(*args)
    elif cmd == "tamper-maildir":
        tamper_maildir(*args)
    elif cmd == "tamper-mbox":
        tamper_mbox(*args)
    elif cmd == "verify-json":
        verify_json(args[0], args[1:])
    elif cmd == "keywords27":
        keywords27(*args)
    else:
        sys.exit("unknown command " + cmd)
    rep.exit()


if __name__ == "__main__":
    main()
