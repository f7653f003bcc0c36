#!/usr/bin/env python3
"""corrupt.py - single-byte flips over every record of an archive (t40).

usage: corrupt.py ARCHIVE MAILDIR FLIPS ASAN_SAMPLE CAT_SAMPLE

Enumerates the records with the layout of format-spec sections 1-2 (16-byte
frame, payload, 32-byte trailer; type in byte 0) and flips single bytes:
every magic byte, every frame byte, every trailer byte and payload bytes
spread evenly over each record, until FLIPS flips.  Each flipped copy is
verified without a key by $MV_TEST (FLIPS runs) and by $MV_ASAN (a sample
of ASAN_SAMPLE): verify must exit 4 or 6, never crash, and name the damaged
record.  For CAT_SAMPLE flips inside CHUNK records, `cat` (with the key
from the environment) of every message whose chunks were not touched must
still return its exact bytes, and `cat` of the touched one must fail.
Messages are found from the blob ID in each CHUNK payload's first 16 bytes,
whose first 8 bytes `ls` prints as #ID.
"""
import collections
import concurrent.futures
import os
import random
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mvlib import (MAGIC, Report, Runner, errtext, load, ls, read_maildir,  # noqa: E402
                   records)

rep = Report()
fast = Runner(rep, os.environ["MV_TEST"])
asan = Runner(rep, os.environ["MV_ASAN"])


def plan(data, recs, want, rng):
    """List of (offset, label) to flip, covering every record."""
    offs = [(i, "magic") for i in range(len(MAGIC))]
    for r in recs:
        name = "%s record %d" % (r["name"], r["index"])
        offs += [(r["off"] + i, name + " frame") for i in range(16)]
        offs += [(r["off"] + 16 + r["len"] + i, name + " trailer") for i in range(32)]
    # Payload bytes: spread evenly over each record, more rounds until the
    # total reaches want.
    per = 8
    while True:
        pay = []
        for r in recs:
            name = "%s record %d payload" % (r["name"], r["index"])
            k = min(r["len"], per)
            pay += [(r["off"] + 16 + (j * r["len"]) // k, name) for j in range(k)]
        if len(offs) + len(set(pay)) >= want or per > max(r["len"] for r in recs):
            break
        per *= 2
    offs += sorted(set(pay))
    if len(offs) > want:
        keep = offs[:len(MAGIC) + 48 * len(recs)]
        rest = offs[len(keep):]
        offs = keep + rng.sample(rest, max(0, want - len(keep)))
    return offs


def main():
    archive, maildir = sys.argv[1], sys.argv[2]
    nflips, nasan, ncat = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    data = load(archive)
    recs = records(data)
    rng = random.Random(40)
    work = os.path.join(os.path.dirname(os.path.abspath(archive)), "flips")
    os.makedirs(work, exist_ok=True)
    blocker = os.path.join(work, "not-a-directory")
    open(blocker, "w").close()
    nostate = {"XDG_STATE_HOME": os.path.join(blocker, "x")}

    types = collections.Counter(r["name"] for r in recs)
    rep.check(recs and recs[-1]["end"] == len(data) and
              set(types) == {"HEADER", "CHUNK", "INDEX_PAGE", "INDEX_ROOT", "STANZA", "COMMIT"},
              "the archive's records walk to its end and include every record type (%s)"
              % dict(types))
    p = fast.run(["verify", archive], env=nostate)
    rep.check(p.returncode == 0, "the unflipped archive verifies (exit 0)", errtext(p))

    flips = plan(data, recs, nflips, rng)
    byrec = {}
    for r in recs:
        for i in range(r["off"], r["end"]):
            byrec[i] = r
    local = threading.local()

    def one(args):
        k, (off, label), runner = args
        b = bytearray(data)
        b[off] ^= rng_for(k).randrange(1, 256)
        path = os.path.join(work, "f%d-%d.mv" % (threading.get_ident(), k))
        with open(path, "wb") as f:
            f.write(b)
        p = runner.run(["verify", path], env=nostate)
        os.unlink(path)
        return off, label, p

    def rng_for(k):
        return random.Random(k * 7919 + 1)

    def sweep(runner, items, what):
        wrong, torn, unnamed = [], [], []
        count = collections.Counter()
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as ex:
            for off, label, p in ex.map(one, [(k, it, runner) for k, it in items]):
                count[label.split(" record")[0]] += 1
                if p.returncode == 5:
                    torn.append("%s at %d" % (label, off))
                elif p.returncode not in (4, 6):
                    wrong.append("%s at %d: exit %d %s" % (label, off, p.returncode, errtext(p)))
                r = byrec.get(off)
                if r is not None and p.returncode in (4, 6):
                    err = p.stderr.decode("utf-8", "replace")
                    if ("record %d " % r["index"]) not in err and ("offset %d" % r["off"]) not in err:
                        unnamed.append("%s at %d: %s" % (label, off, errtext(p)))
        n = len(items)
        rep.all("%s: keyless verify exits 4 (corrupt) or 6 for each of %d single-byte flips (%s)"
                % (what, n, ", ".join("%s %d" % kv for kv in sorted(count.items()))), wrong)
        rep.all("%s: no flip in a committed archive passes for a torn tail (exit 5, %d flips)"
                % (what, n), torn)
        rep.all("%s: the error names the damaged record by number or offset (%d flips)" % (what, n),
                unnamed)

    items = list(enumerate(flips))
    sweep(fast, items, "test build")
    fast.summary("test build: verify of %d flipped copies" % len(items))
    sample = rng.sample(items, min(nasan, len(items)))
    # Every record type in the sanitizer sample, too.
    seen = set(l.split(" record")[0] for _, (o, l) in sample)
    for k, (o, l) in items:
        if l.split(" record")[0] not in seen:
            sample.append((k, (o, l)))
            seen.add(l.split(" record")[0])
    sweep(asan, sample, "sanitizer build")
    asan.summary("sanitizer build: verify of %d flipped copies" % len(sample))

    cat_check(data, recs, maildir, work, ncat, rng)
    asan.summary("sanitizer build: ls and cat")
    rep.exit()


def cat_check(data, recs, maildir, work, ncat, rng):
    p, got = ls(asan, sys.argv[1])
    if not rep.check(p.returncode == 0, "ls of the unflipped archive works", errtext(p)):
        return
    # The source: UIDs follow name order (the corpus is made so).
    src = {}
    for f in read_maildir(maildir):
        for i, m in enumerate(f["messages"]):
            src["%s/%d" % (f["display"], i + 1)] = m
    byid = {}
    for folder, d in got["folders"].items():
        for uid, e in d["entries"].items():
            byid.setdefault(e["id"], []).append("%s/%d" % (folder, uid))
    chunks = [r for r in recs if r["name"] == "CHUNK"]
    owner = {r["index"]: data[r["off"] + 16:r["off"] + 24].hex() for r in chunks}
    rep.check(all(o in byid for o in owner.values()) and len(src) == sum(len(v) for v in byid.values()),
              "every CHUNK record's blob ID is a message's #ID in ls, and ls lists every source message")
    wrong, fails = [], []
    for k in range(ncat):
        r = rng.choice(chunks)
        off = r["off"] + rng.randrange(16 + r["len"] + 32)
        b = bytearray(data)
        b[off] ^= rng.randrange(1, 256)
        path = os.path.join(work, "cat-%d.mv" % k)
        with open(path, "wb") as f:
            f.write(b)
        hit = owner[r["index"]]
        # One untouched message and the touched one.
        others = [ref for i, refs in byid.items() if i != hit for ref in refs]
        ref = rng.choice(others)
        p = asan.run(["cat", path, ref])
        if p.returncode != 0 or p.stdout != load(src[ref]["path"]):
            wrong.append("flip at %d (chunk record %d of #%s): cat %s exit %d, %d bytes (want %d) %s"
                         % (off, r["index"], hit, ref, p.returncode, len(p.stdout),
                            src[ref]["size"], errtext(p)))
        ref = byid[hit][0]
        p = asan.run(["cat", path, ref])
        if p.returncode != 4:
            fails.append("flip at %d (chunk record %d): cat %s exit %d, %d bytes %s"
                         % (off, r["index"], ref, p.returncode, len(p.stdout), errtext(p)))
        os.unlink(path)
    rep.all("after a flip inside a CHUNK record, cat of a message whose chunks were not touched "
            "returns its exact bytes (%d flips)" % ncat, wrong)
    rep.all("after a flip inside a CHUNK record, cat of the message it belongs to exits 4 (%d flips)"
            % ncat, fails)


if __name__ == "__main__":
    main()
