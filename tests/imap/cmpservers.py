#!/usr/bin/env python3
"""cmpservers.py A.json B.json LABEL [--subset]

Compares two manifests written by imapread.py (two servers, or one server
at two times): the same folders (UTF-8 names, '/' between levels whatever
each server's delimiter) holding the same messages, compared as multisets
of (bytes sha256, flags, INTERNALDATE as an instant).  UIDs and UIDVALIDITY
differ between servers and are not compared.  Prints PASS:/FAIL:.
--subset: every message of A must be in B (B may hold more).
"""
import calendar
import collections
import json
import sys
import time


def instant(d):
    t = time.strptime(d[:20], "%d-%b-%Y %H:%M:%S")
    off = int(d[22:24]) * 3600 + int(d[24:26]) * 60
    return calendar.timegm(t) - (off if d[21] == "+" else -off)


def msgs(f):
    return collections.Counter((m["sha256"], tuple(m["flags"]), instant(m["date"]))
                               for m in f["messages"].values())


def main():
    a, b, label = sys.argv[1:4]
    subset = "--subset" in sys.argv
    A = json.load(open(a))["folders"]
    B = json.load(open(b))["folders"]
    bad = []
    for name in sorted(A):
        if name not in B:
            if A[name]["messages"]:
                bad.append("folder %r missing" % name)
            continue
        x, y = msgs(A[name]), msgs(B[name])
        if subset:
            if x - y:
                bad.append("%r: %d messages missing" % (name, sum((x - y).values())))
        elif x != y:
            bad.append("%r: %d missing, %d extra (of %d)" % (
                name, sum((x - y).values()), sum((y - x).values()), sum(x.values())))
    if not subset:
        for name in sorted(set(B) - set(A)):
            if B[name]["messages"]:
                bad.append("extra folder %r with %d messages" % (name, len(B[name]["messages"])))
    n = sum(len(f["messages"]) for f in A.values())
    if bad:
        for x in bad[:30]:
            print("  " + x)
        print("FAIL: %s (%d differences)" % (label, len(bad)))
        return 1
    print("PASS: %s (%d folders, %d messages: bytes, flags, keywords, INTERNALDATE)" % (label, len(A), n))
    return 0


if __name__ == "__main__":
    sys.exit(main())
