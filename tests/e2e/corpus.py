#!/usr/bin/env python3
"""corpus.py - makes the mailboxes the end-to-end tests pull.

usage: corpus.py KIND DEST [options]

  hostile-maildir DEST      Maildir++ with hostile bytes, flags, keywords
                            and modified UTF-7 folder names (no huge message)
  big-message DEST          adds one message of --size bytes (default 50 MB)
                            to folder .Big of the Maildir DEST
  mbox DEST                 an mbox file written by Python's mailbox.mbox
                            with hostile bytes and 30+ X-Keywords
                            (--large adds a 9 MB message)
  small DEST                --folders N --count M small text messages
                            (--add: add to an existing Maildir under new
                            names; --size S --random: S-byte incompressible
                            bodies; --seed N)
  markers DEST              a Maildir whose secrets are unique markers; the
                            markers are written one a line to --markers FILE

Every message file gets a fixed mtime so INTERNALDATE is predictable.
"""
import argparse
import mailbox
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mvlib  # noqa: E402

BASE_TIME = 1700000000   # 2023-11-14


def mkfolder(root, raw=None):
    path = root if raw is None else os.path.join(root, "." + raw)
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(path, sub), exist_ok=True)
    return path


def put(folder, sub, name, data, mtime):
    p = os.path.join(folder, sub, name)
    with open(p, "wb") as f:
        f.write(data)
    os.utime(p, (mtime, mtime))
    return p


def hostile_messages(rng):
    """(label, bytes) pairs that exercise every byte-level corner."""
    hdr = b"From: Alice <alice@example.org>\nTo: bob@example.net\nSubject: %s\n\n"
    out = [
        ("plain", hdr % b"plain" + b"A plain LF message.\nSecond line.\n" * 4),
        ("crlf", (b"From: a@example.org\r\nSubject: crlf\r\n\r\n" +
                  b"line one\r\nline two\r\n" * 10)),
        ("bare-cr", b"Subject: bare CR\r\rbody\rmore\r" + b"x\ry\r" * 30),
        ("mixed-eol", b"Subject: mixed\n\r\nA\r\nB\nC\rD\n\r\r\n\n"),
        ("nul", hdr % b"nul" + b"\x00" * 100 + b"mid\x00dle\x00\n" + b"\x00"),
        ("8bit", hdr % b"8bit \xe9t\xe9 \xff" + bytes(range(256)) * 4),
        ("invalid-utf8", hdr % b"bad" + b"\xc3\x28\xa0\xa1\xe2\x28\xa1\xf0\x90\x28\xbc\n"),
        ("long-lines", hdr % b"long" + b"x" * 1500 + b"\n" + b"y" * 100000 + b"\n" +
         b"z" * 5000),
        ("empty", b""),
        ("from-lines", hdr % b"from" + b"From the start of a line\nFrom here\n"
         b">From quoted\n>>From double quoted\n\nFrom \nFrom\nFrom:\n"),
        ("starts-with-from", b"From someone@example.org Mon Jan  1 00:00:00 2024\n"
         b"Subject: starts with From_\n\nbody\n"),
        ("no-final-lf", hdr % b"nolf" + b"body without a final line end"),
        ("only-lf", b"\n"),
        ("only-crlf", b"\r\n"),
        ("one-byte", b"x"),
        ("size-63", b"S" * 62 + b"\n"),
        ("size-64", b"S" * 63 + b"\n"),
        # Around the default chunk size (2^18): random bytes do not compress,
        # so the stored stream crosses the boundary too.
        ("chunk-minus-1", rng.randbytes((1 << 18) - 1)),
        ("chunk-exact", rng.randbytes(1 << 18)),
        ("chunk-plus-1", rng.randbytes((1 << 18) + 1)),
        ("compressible-1m", hdr % b"big text" + b"The quick brown fox. " * 50000),
    ]
    return out


def hostile_maildir(dest, args):
    rng = random.Random(1)
    os.makedirs(dest)
    inbox = mkfolder(dest)
    ete = mkfolder(dest, "&AOk-t&AOk-")               # "ete" with accents
    arch = mkfolder(dest, "Archive")
    arch24 = mkfolder(dest, "Archive.2024")
    mkfolder(dest, "Empty")
    jp = mkfolder(dest, mvlib.utf7_encode("日本語 & more").decode())
    t = BASE_TIME
    infos = [":2,S", ":2,RS", ":2,F", ":2,T", ":2,D", ":2,P", ":2,DFPRST", ":2,", ""]
    msgs = hostile_messages(rng)
    for i, (label, data) in enumerate(msgs):
        info = infos[i % len(infos)]
        sub = "new" if info == "" else "cur"
        # Some dates before the 10th of a month, so the day is space-padded.
        put(inbox, sub, "%d.M%dP%d.host-%s%s" % (t + i, i, 100 + i, label, info), data,
            t + i * 86400 * 3 + i)
    # A message both in new/ and cur/ (a client moved it while we looked):
    # the cur/ copy is the one kept.
    put(inbox, "new", "1699999999.dup.host", b"Subject: dup (new copy)\n\nold\n", t - 5)
    put(inbox, "cur", "1699999999.dup.host:2,S", b"Subject: dup (cur copy)\n\nnew\n", t - 4)
    # 26 keywords (the Maildir maximum: letters a..z) in the accented folder.
    kws = ["$Label%d" % i for i in range(1, 6)] + ["Work", "Private", "$Junk", "$NotJunk",
                                                   "NonJunk", "$Forwarded", "$MDNSent"] + \
          ["kw-%02d" % i for i in range(14)]
    assert len(kws) == 26
    with open(os.path.join(ete, "dovecot-keywords"), "w") as f:
        for i, k in enumerate(kws):
            f.write("%d %s\n" % (i, k))
    letters = "abcdefghijklmnopqrstuvwxyz"
    put(ete, "cur", "1700000100.all26.host:2,S" + letters,
        b"Subject: all 26 keywords\n\nbody\n", t + 100)
    put(ete, "cur", "1700000101.some.host:2,FRa" + "ckz", b"Subject: some\n\n\xe9\n", t + 101)
    put(ete, "cur", "1700000102.none.host:2,", b"Subject: none\r\n\r\nx\r\n", t + 102)
    for i in range(3):
        put(arch, "cur", "17000002%02d.arch.host:2,S" % i,
            b"Subject: archive %d\n\nFrom me\n" % i, t + 200 + i)
    for i in range(4):
        put(arch24, "cur" if i % 2 else "new", "17000003%02d.a24.host%s" % (i, ":2,T" if i % 2 else ""),
            b"Subject: 2024 %d\n\n" % i + b"\x00\r\n" * i, t + 300 + i)
    put(jp, "cur", "1700000400.jp.host:2,S", "Subject: 日本語\n\n本文\n".encode(), t + 400)


def big_message(dest, args):
    big = mkfolder(dest, "Big")
    rng = random.Random(50)
    size = args.size
    head = b"From: big@example.org\nSubject: fifty megabytes\n\n"
    # Base64-like text lines of random bytes: compresses a little, like mail.
    import base64
    chunk = base64.encodebytes(rng.randbytes(3 << 20))
    body = bytearray(head)
    while len(body) < size:
        body += chunk
    del body[size:]
    put(big, "cur", "1700000500.big.host:2,S", bytes(body), BASE_TIME + 500)


def mbox_corpus(dest, args):
    """Written by Python's own writer, which is the reference reader too."""
    rng = random.Random(7)
    kw35 = ", ".join("kw%02d" % i for i in range(1, 36))
    kw40 = " ".join("tag-%02d" % i for i in range(40))
    msgs = []

    def frm(i):
        return ("From sender%d@example.org %s" % (i, mvlib.asctime_utc(BASE_TIME + i * 86400 * 5 + i))).encode()

    for i, (label, data) in enumerate(hostile_messages(rng)):
        if label == "starts-with-from":
            data = b"Subject: body begins with From\n\nFrom inside\n"
        msgs.append((frm(i), data))
    n = len(msgs)
    msgs.append((frm(n), b"Status: RO\nX-Status: AF\nX-Keywords: " + kw35.encode() +
                 b"\nSubject: 35 keywords\n\nbody\n"))
    msgs.append((frm(n + 1), b"Status: O\nX-Status: TD\nX-Keywords: " + kw40.encode() +
                 b"\nSubject: 40 keywords\n\nFrom line in body\n>From quoted in body\n"))
    msgs.append((frm(n + 2), b"Status: R\r\nX-Keywords: crlf1,crlf2\r\nSubject: crlf kw\r\n\r\nx\r\n"))
    msgs.append((frm(n + 3), b"Subject: duplicate\n\nsame bytes\n"))
    msgs.append((frm(n + 4), b"Subject: duplicate\n\nsame bytes\n"))
    if args.large:
        # Over 8 MiB: the reader's second (streaming, rewinding) path.
        big = bytearray(b"X-Keywords: " + kw35.encode() + b"\nStatus: RO\nSubject: large\n\n")
        line = b"From the large message, a line that needs quoting\n"
        while len(big) < 9 * 1000 * 1000:
            big += rng.randbytes(700).hex().encode() + b"\n" + line
        msgs.append((frm(n + 5), bytes(big)))
    if os.path.exists(dest):
        os.unlink(dest)
    mb = mailbox.mbox(dest, create=True)
    try:
        mb.lock()
        for fl, data in msgs:
            mb.add(fl + b"\n" + data)
        mb.flush()
        mb.unlock()
    finally:
        mb.close()


def small(dest, args):
    rng = random.Random(args.seed)
    if not args.add:
        os.makedirs(dest)
    folders = [mkfolder(dest)] + [mkfolder(dest, "Folder%d" % i) for i in range(1, args.folders)]
    tag = "s%d" % args.seed
    for i in range(args.count):
        f = folders[i % len(folders)]
        if args.random:
            body = rng.randbytes(args.size)
        else:
            words = " ".join(rng.choice(["alpha", "beta", "gamma", "delta", "mail", "vault",
                                         "archive", "zeta"]) for _ in range(rng.randint(20, 120)))
            body = ("Message %s-%d\n%s\n" % (tag, i, words)).encode()
        data = b"From: n%d@example.org\nSubject: %s %d\n\n" % (i, tag.encode(), i) + body
        put(f, "cur", "%d.%s-%05d.host:2,%s" % (BASE_TIME + i, tag, i, "S" if i % 3 else ""),
            data, BASE_TIME + 1000 + i)


def markers(dest, args):
    rng = random.Random()      # truly different every run: nothing to find by chance
    def mk(kind):
        return "MVMARK%s%s" % (kind.upper(), rng.getrandbits(96).to_bytes(12, "big").hex())
    os.makedirs(dest)
    inbox = mkfolder(dest)
    fname = mk("folder")
    fold = mkfolder(dest, fname)
    kw = mk("kw")
    with open(os.path.join(fold, "dovecot-keywords"), "w") as f:
        f.write("0 %s\n" % kw)
    out = [fname, kw]
    for i in range(6):
        body, subj, frm, to, uname = mk("body"), mk("subj"), mk("from"), mk("to"), mk("uniq")
        out += [body, subj, frm, to, uname]
        data = ("From: Someone <%s@example.org>\nTo: %s@example.net\nSubject: %s\n\n"
                "Hello,\n%s\n%s\n" % (frm, to, subj, body, "padding text " * (i * 40))).encode()
        put(inbox if i % 2 else fold, "cur", "%d.%s.host:2,Sa" % (BASE_TIME + i, uname), data,
            BASE_TIME + i)
    # A big compressible one: markers far from the start of a 1 MB stream.
    body = mk("deep")
    out.append(body)
    put(inbox, "cur", "%d.deep.host:2,S" % BASE_TIME,
        b"Subject: deep\n\n" + b"filler line\n" * 80000 + body.encode() + b"\n", BASE_TIME)
    with open(args.markers, "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kind")
    ap.add_argument("dest")
    ap.add_argument("--size", type=int, default=50 * 1000 * 1000)
    ap.add_argument("--large", action="store_true")
    ap.add_argument("--folders", type=int, default=3)
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--add", action="store_true")
    ap.add_argument("--random", action="store_true")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--markers", default="markers.txt")
    a = ap.parse_args()
    kinds = {"hostile-maildir": hostile_maildir, "big-message": big_message, "mbox": mbox_corpus,
             "small": small, "markers": markers}
    if a.kind not in kinds:
        ap.error("unknown kind " + a.kind)
    kinds[a.kind](a.dest, a)


if __name__ == "__main__":
    main()
