#!/bin/sh
# gen.sh [OUTDIR] - regenerates the archive vectors (vectors/README.md).
#
# Writes into OUTDIR (default: vectors/archive):
#   keys/           identities and passphrase files of the vectors
#   good/*.mv       known-answer archives, made by the test build with
#                   injected randomness (MV_TEST_SEED) and time (MV_TEST_TIME)
#   good/messages/  the source messages: what `cat` must print
#   good/*.out      what verify / log / ls print for each good archive
#   bad/*.mv        must-fail archives, made by the forger from a good one
#                   as each bad/NAME.meta's `make:` line says
# The .meta files are written by hand and only read here.  With the same
# build the output is byte for byte the same every time: tests/vectors/run.sh
# regenerates into a temporary directory and compares.  When the format
# changes, rerun this and commit the vectors with the change.
#
# Needs build/test/mbox-vault and build/test/forge (make TESTHOOKS=1 tools)
# and python3.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
src="$top/vectors/archive"
out=${1:-$src}
MV=${MV_TEST:-$top/build/test/mbox-vault}
FORGE=${MV_FORGE:-$(dirname "$MV")/forge}
for b in "$MV" "$FORGE"; do
	[ -x "$b" ] || { echo "gen.sh: $b is missing (make TESTHOOKS=1 tools)" >&2; exit 1; }
done
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d /tmp/mv-vecgen.XXXXXX)
trap 'rm -rf "$work"' EXIT
# Nothing from the caller's environment may leak into the vectors.
unset MBOX_VAULT_PASSPHRASE MBOX_VAULT_IDENTITY_PASSPHRASE MV_TEST_CRASH_WRITES \
	MV_TEST_ARGON_KIB MV_TEST_SEED MV_TEST_TIME
export XDG_STATE_HOME="$work/state" HOME="$work/home"
mkdir -p "$HOME"

# Only generated files are removed; .meta files and README stay.
rm -rf "$out/keys" "$out/good/messages"
mkdir -p "$out/keys" "$out/good/messages" "$out/bad"
rm -f "$out"/good/*.mv "$out"/good/*.out "$out"/bad/*.mv

# ---- keys ----
for k in owner reader other; do
	MV_TEST_SEED="vec-key-$k" "$MV" keygen --unprotected -o "$out/keys/$k.id" >/dev/null
done
printf 'vector passphrase, not a secret\n' > "$out/keys/passphrase"
printf 'not the vector passphrase\n' > "$out/keys/wrong-passphrase"
chmod 644 "$out"/keys/*

# ---- source messages and the Maildir ----
# mail.py MSGDIR MAILDIR STAGE: writes the messages (stage 1) and builds or
# changes the Maildir.  INTERNALDATE is the file's mtime: set explicitly.
cat > "$work/mail.py" <<'PY'
import hashlib, os, shutil, sys
msgdir, root, stage = sys.argv[1], sys.argv[2], int(sys.argv[3])  # msgdir "-": none

def stream(seed, n):
    out, i = b"", 0
    while len(out) < n:
        out += hashlib.sha256(seed + i.to_bytes(4, "little")).digest()
        i += 1
    return out[:n]

# number: (folder dir, bytes)
msgs = {
    "01": b"Subject: hi\n\nshort\n",
    "02": b"From: Alice <alice@example.org>\nTo: bob@example.org\nSubject: text\n"
          b"Date: Tue, 14 Nov 2023 22:15:00 +0000\n\n"
          + b"All work and no play makes a dull archive.\n" * 40,
    # Incompressible: three 4 KiB chunks once compressed and padded.
    "03": b"Subject: binary\nContent-Type: application/octet-stream\n\n"
          + stream(b"vector message 03", 9000),
    "04": b"From: bob@example.org\r\nSubject: work\r\n\r\nline one\r\nline two\r\n"
          b"From the desk of Bob\r\n",
    "05": b"",
    "06": b"Subject: summer\n\n" + ("\u00e9t\u00e9 " * 30).encode() + b"\n",
    "07": b"Subject: second\n\nnew in version 2, long enough (64 bytes or more) to be"
          b" compressed\n",
}
# stage 1 files: number, folder, subdir, unique name, info suffix.
# Messages under 64 bytes (stored uncompressed) come first: a pull stores
# them at once while compressed ones queue for the worker threads, so one
# that came after a queued message would land at a timing-dependent place
# (see vectors/README.md, "Known problems").
stage1 = [
    ("01", "", "cur", "1700000000.M1P1.vec", ":2,S"),
    ("05", "", "new", "1700000050.M5P1.vec", ""),
    ("02", "", "cur", "1700000100.M2P1.vec", ":2,RSa"),
    ("03", "", "cur", "1700000200.M3P1.vec", ":2,FSab"),
    ("04", ".Work", "cur", "1700000300.M4P1.vec", ":2,S"),
    ("06", ".&AOk-t&AOk-", "cur", "1700000450.M6P1.vec", ":2,Fa"),
]

def put(num, folder, sub, uniq, info):
    d = os.path.join(root, folder) if folder else root
    for s in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(d, s), exist_ok=True)
    f = os.path.join(d, sub, uniq + info)
    with open(f, "wb") as fh:
        fh.write(msgs[num])
    t = int(uniq.split(".")[0])
    os.utime(f, (t, t))

if stage == 1:
    for num, body in msgs.items():
        if msgdir == "-":
            break
        with open(os.path.join(msgdir, num + ".eml"), "wb") as fh:
            fh.write(body)
    for e in stage1:
        put(*e)
    for d in (root, os.path.join(root, ".&AOk-t&AOk-")):
        with open(os.path.join(d, "dovecot-keywords"), "w") as fh:
            fh.write("0 $Label1\n1 ProjectX\n")
else:
    # Version 2: a flag changes, a new message, and a copy of 04's bytes
    # in another folder (stored once: deduplicated).
    old = os.path.join(root, "cur", "1700000000.M1P1.vec:2,S")
    new = os.path.join(root, "cur", "1700000000.M1P1.vec:2,RS")
    os.rename(old, new)
    put("07", "", "new", "1700000500.M7P1.vec", "")
    msgs["08"] = msgs["04"]
    put("08", "", "cur", "1700000600.M8P1.vec", ":2,")
PY

mkdir -p "$work/id" "$work/pw"
python3 "$work/mail.py" "$out/good/messages" "$work/id/mail" 1
python3 "$work/mail.py" - "$work/pw/mail" 1

ID="$out/keys/owner.id"
PASS="$out/keys/passphrase"
pull() { # dir seed time archive key-options...
	d=$1 seed=$2 t=$3 a=$4
	shift 4
	# A fresh rollback state: the archives below share archive IDs.
	rm -rf "$XDG_STATE_HOME"
	(cd "$d" && MV_TEST_SEED="$seed" MV_TEST_TIME="$t" \
		"$MV" --quiet pull maildir:mail "$a" --chunk-size-log 12 "$@")
}

# ---- good archives ----
# identity: version 1, version 2 (second pull), version 3 (a grant).
pull "$work/id" vec-identity-1 1700001000 identity.mv --identity "$ID"
cp "$work/id/identity.mv" "$out/good/identity-v1.mv"
python3 "$work/mail.py" - "$work/id/mail" 2
cp "$work/id/identity.mv" "$work/id/recovered.mv"
pull "$work/id" vec-identity-2 1700002000 identity.mv --identity "$ID"
cp "$work/id/identity.mv" "$out/good/identity-v2.mv"
(cd "$work/id" && MV_TEST_SEED=vec-identity-3 MV_TEST_TIME=1700003000 "$MV" --quiet \
	grant identity.mv --recipient "$(sed -n 's/^recipient: //p' "$out/keys/reader.id")" \
	--identity "$ID")
cp "$work/id/identity.mv" "$out/good/identity-v3-grant.mv"
# recovered: version 1, a torn tail of 100 zero bytes, then the second
# pull, which cuts the tail and records its length and hash.
head -c 100 /dev/zero >> "$work/id/recovered.mv"
pull "$work/id" vec-recovered-2 1700002000 recovered.mv --identity "$ID"
cp "$work/id/recovered.mv" "$out/good/identity-recovered.mv"
# passphrase: version 1 only, cheap Argon2id (8 MiB, 1 pass: the minimum
# a reader accepts).
export MV_TEST_ARGON_KIB=8192
pull "$work/pw" vec-passphrase-1 1700001000 passphrase.mv --passphrase-file "$PASS"
unset MV_TEST_ARGON_KIB
cp "$work/pw/passphrase.mv" "$out/good/passphrase-v1.mv"

# What verify, log and ls print, run from OUTDIR as run.sh runs them.
(
	cd "$out"
	for a in good/*.mv; do
		n=${a%.mv}
		case $n in good/passphrase*) k="--passphrase-file keys/passphrase" ;;
		*) k="--identity keys/owner.id" ;; esac
		rm -rf "$XDG_STATE_HOME"
		"$MV" verify "$a" > "$n.verify.out"
		rm -rf "$XDG_STATE_HOME"
		"$MV" verify "$a" $k > "$n.verify-key.out"
		rm -rf "$XDG_STATE_HOME"
		"$MV" log "$a" > "$n.log.out"
		rm -rf "$XDG_STATE_HOME"
		"$MV" ls "$a" $k > "$n.ls.out"
	done
)

# ---- the forger must reproduce every good archive byte for byte ----
for a in "$out"/good/*.mv; do
	case $a in */passphrase*) k="--passphrase-file $PASS" ;; *) k="--identity $ID" ;; esac
	MV_TEST_SEED=forge-identity "$FORGE" $k "$a" "$work/same.mv" identity
	if ! cmp -s "$a" "$work/same.mv"; then
		echo "gen.sh: the forger does not reproduce $a: fix tests/vectors/forge.c" >&2
		exit 1
	fi
done

# ---- bad archives ----
for m in "$src"/bad/*.meta; do
	[ -f "$m" ] || continue
	name=$(basename "$m" .meta)
	mk=$(sed -n 's/^make:[[:space:]]*//p' "$m")
	set -f
	# shellcheck disable=SC2086
	set -- $mk
	set +f
	[ $# -eq 2 ] || { echo "gen.sh: $m: 'make: BASE SCENARIO' expected" >&2; exit 1; }
	case $1 in passphrase*) k="--passphrase-file $PASS" ;; *) k="--identity $ID" ;; esac
	MV_TEST_SEED="forge-$name" "$FORGE" $k --other "$out/keys/other.id" \
		"$out/good/$1.mv" "$out/bad/$name.mv" "$2"
done
