#!/usr/bin/env python3
"""cmparchive.py MANIFEST.json ARCHIVE IDENTITY [--version N] [--label L]

Compares what an independent IMAP client read from the server (imapread.py
manifest) with a version of an archive, message by message: folders
(names, UIDVALIDITY, HIGHESTMODSEQ, delimiter), UIDs, bytes (sha256 of
`mbox-vault cat`), flags and keywords, INTERNALDATE.  Prints PASS:/FAIL:
lines; exit status 1 on any difference.  Uses $MV as the binary.
"""
import hashlib
import json
import os
import subprocess
import sys


def main():
    args = sys.argv[1:]
    version = None
    label = "archive"
    if "--version" in args:
        i = args.index("--version")
        version = args[i + 1]
        del args[i:i + 2]
    if "--label" in args:
        i = args.index("--label")
        label = args[i + 1]
        del args[i:i + 2]
    man_path, arch, ident = args
    mv = os.environ["MV"]
    with open(man_path) as f:
        man = json.load(f)
    cmd = [mv, "ls", "--json", arch, "--identity", ident]
    if version:
        cmd += ["--version", version]
    p = subprocess.run(cmd, capture_output=True)
    if p.returncode != 0:
        print("FAIL: %s: ls --json exits %d: %s" % (label, p.returncode, p.stderr.decode()[-300:]))
        return 1
    lines = [json.loads(l) for l in p.stdout.decode().splitlines() if l.strip()]
    folders = {}
    msgs = {}
    for l in lines[1:]:
        if "uid" in l:
            msgs.setdefault(l["folder"], {})[str(l["uid"])] = l
        else:
            folders[l["folder"]] = l
    bad = []
    want = man["folders"]
    for name in sorted(set(want) | set(folders)):
        if name not in folders:
            bad.append("folder %r missing from the archive" % name)
            continue
        if name not in want:
            if folders[name]["special"] & 128:
                continue   # \Noselect parents are kept in the archive
            bad.append("folder %r in the archive but not on the server" % name)
            continue
        w, a = want[name], folders[name]
        if w["uidvalidity"] != a["uidvalidity"]:
            bad.append("%r: UIDVALIDITY %s on the server, %s archived" % (name, w["uidvalidity"], a["uidvalidity"]))
        if w["highestmodseq"] and w["highestmodseq"] != a["modseq"]:
            bad.append("%r: HIGHESTMODSEQ %s on the server, %s archived" % (name, w["highestmodseq"], a["modseq"]))
        if w["name"] != a["name"]:
            bad.append("%r: name bytes %r on the server, %r archived" % (name, w["name"], a["name"]))
        wm, am = w["messages"], msgs.get(name, {})
        if set(wm) != set(am):
            bad.append("%r: UIDs differ: server-only %s, archive-only %s" % (
                name, sorted(set(wm) - set(am), key=int)[:10], sorted(set(am) - set(wm), key=int)[:10]))
        for uid in sorted(set(wm) & set(am), key=int):
            x, y = wm[uid], am[uid]
            flags = sorted(y["flags"] + y["keywords"])
            if x["flags"] != flags:
                bad.append("%r/%s: flags %s on the server, %s archived" % (name, uid, x["flags"], flags))
            if x["date"] != y["date"]:
                bad.append("%r/%s: INTERNALDATE %r on the server, %r archived" % (name, uid, x["date"], y["date"]))
            if x["size"] != y["size"]:
                bad.append("%r/%s: %d bytes on the server, %d archived" % (name, uid, x["size"], y["size"]))
                continue
            c = [mv, "cat", arch, "%s/%s" % (name, uid), "--identity", ident]
            if version:
                c += ["--version", version]
            q = subprocess.run(c, capture_output=True)
            if q.returncode != 0 or hashlib.sha256(q.stdout).hexdigest() != x["sha256"]:
                bad.append("%r/%s: bytes differ (cat exit %d)" % (name, uid, q.returncode))
    n = sum(len(f["messages"]) for f in want.values())
    if bad:
        for b in bad[:40]:
            print("  " + b)
        print("FAIL: %s matches the server message by message (%d differences)" % (label, len(bad)))
        return 1
    print("PASS: %s matches the server message by message (%d folders, %d messages: bytes, flags, keywords, INTERNALDATE, UIDVALIDITY, HIGHESTMODSEQ)" % (label, len(want), n))
    return 0


if __name__ == "__main__":
    sys.exit(main())
