#!/bin/sh
# `make demo`: the local job on an embedded sample.  Builds mbox-vault,
# writes a small Maildir, pulls it into an archive (twice: the second pull
# adds a version and stores nothing again), verifies the archive without
# the key, exports it, and shows that every message's bytes match.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
make -s all
MV="$top/mbox-vault"
d=$(mktemp -d /tmp/mbox-vault-demo.XXXXXX)
trap 'rm -rf "$d"' EXIT
export HOME="$d/home"
mkdir -p "$HOME"
# The demo's throwaway passphrase comes from a file, never from argv.
printf 'demo passphrase, not a secret\n' > "$d/pass"
chmod 600 "$d/pass"

echo "== a sample Maildir in $d/mail"
python3 - "$d/mail" <<'PY'
import os, sys, time
root = sys.argv[1]
def folder(path):
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(path, sub), exist_ok=True)
    return path
msgs = [
    ("", "1700000000.M1P1.demo:2,S", b"From: Alice <alice@example.org>\nTo: bob@example.org\nSubject: Quarterly numbers\nDate: Tue, 14 Nov 2023 22:13:20 +0000\n\nThe numbers are attached.\n"),
    ("", "1700000100.M2P1.demo:2,RS", b"From: bob@example.org\r\nSubject: Re: Quarterly numbers\r\n\r\nThanks,\r\nFrom the desk of Bob\r\n"),
    ("", "1700000200.M3P1.demo", b"Subject: binary \x00 and 8-bit \xe9\xe8\n\nbare\rCR and a long line " + b"x" * 1500 + b"\n"),
    (".Sent", "1700000300.M4P1.demo:2,S", b"From: bob@example.org\nSubject: sent item\n\nbody\n"),
    (".&AOk-t&AOk-", "1700000400.M5P1.demo:2,FS", b"Subject: summer folder\n\n" + os.urandom(3000).hex().encode() + b"\n"),
    (".Archive.2024", "1700000500.M6P1.demo:2,", b""),
]
for sub, name, body in msgs:
    p = folder(os.path.join(root, sub) if sub else root)
    f = os.path.join(p, "cur", name)
    with open(f, "wb") as fh:
        fh.write(body)
    t = int(name.split(".")[0])
    os.utime(f, (t, t))
PY

echo "== pull (creates the archive, version 1)"
"$MV" pull "maildir:$d/mail" "$d/demo.mvault" --passphrase-file "$d/pass"
echo "== pull again (version 2: nothing new is stored)"
"$MV" pull "maildir:$d/mail" "$d/demo.mvault" --passphrase-file "$d/pass"
echo "== log"
"$MV" log "$d/demo.mvault"
echo "== verify without any key"
"$MV" verify "$d/demo.mvault"
echo "== ls"
"$MV" ls "$d/demo.mvault" --passphrase-file "$d/pass"
echo "== export to a Maildir and compare every message byte for byte"
"$MV" export "$d/demo.mvault" --format maildir "$d/out" --passphrase-file "$d/pass"
python3 - "$d/mail" "$d/out" <<'PY'
import os, sys
def load(root):
    got = {}
    for dp, dn, fn in os.walk(root):
        if os.path.basename(dp) not in ("cur", "new"):
            continue
        for n in fn:
            with open(os.path.join(dp, n), "rb") as fh:
                got[(os.path.relpath(os.path.dirname(dp), root), n.split(":")[0])] = fh.read()
    return got
a, b = load(sys.argv[1]), load(sys.argv[2])
bad = [k for k in a if a[k] != b.get(k)]
print("%d messages exported, %d identical to the source" % (len(b), len(a) - len(bad)))
sys.exit(1 if bad or len(a) != len(b) else 0)
PY
echo "demo OK"
