#!/bin/sh
# t46-proven: what a pull reads again of an archive it extends.
#
# A pull remembers (state file, "proven N") the newest version whose
# records it found matching their signed versions, and the next pull on
# this machine reads only the records added after it (README, XDG_STATE_HOME).
# Shown here: the state file says "proven N" after a pull; damage to a
# record added since (by a pull on another machine, here another HOME) is
# still found: the pull refuses (exit 4) and leaves the file as it was;
# damage to a record before the proven version is not re-read by that
# pull, which adds its version (the new version's tree grows from the
# signed frontier, so it vouches for the original bytes, not the damaged
# ones), and `verify` finds the damage (exit 4), as does a pull from a
# machine that remembers nothing (exit 4).  A corrupted state line
# ("proven" past the archive's end) falls back to the whole check.
. "$(dirname "$0")/lib.sh"
need_bin "$MV"

mvh() { # HOME-DIR ARGS...: mvrun with another HOME (another machine's state)
	_h=$1; shift
	HOME=$_h mvrun "$@"
}
fsha() { sha256sum "$1" | cut -d' ' -f1; }
# records FILE: "offset seq" of every record (frame: type, flags, 2 zero
# bytes, u32 length, u64 sequence; then the payload and a 32-byte trailer).
records() {
	"$PY" - "$1" <<'EOF'
import struct, sys
b = open(sys.argv[1], 'rb').read()
off = 8
while off + 16 <= len(b):
    ln, = struct.unpack_from('<I', b, off + 4)
    seq, = struct.unpack_from('<Q', b, off + 8)
    print(off, seq, b[off])
    off += 16 + ln + 32
EOF
}
# flip FILE OFFSET: xors one byte.
flip() {
	"$PY" -c 'import sys
f = open(sys.argv[1], "r+b"); o = int(sys.argv[2]); f.seek(o); c = f.read(1)
f.seek(o); f.write(bytes([c[0] ^ 0x40]))' "$1" "$2"
}

mkdir -p "$T/ha" "$T/hb" "$T/hc" "$T/hd"
fresh_corpus small "$T/md" --count 30 --folders 2 || finish
mvh "$T/ha" keygen --unprotected -o "$T/id"
expect_rc 0 "keygen"
mvh "$T/ha" pull "maildir:$T/md" "$T/a.mv" --identity "$T/id"
expect_rc 0 "first pull (machine A)"
size1=$(fsize "$T/a.mv")
state=$(ls "$T/ha/.local/state/mbox-vault/" | grep -v '\.' | head -1)
check "machine A's state says the records up to version 1 are proven" \
	grep -qx 'proven 1' "$T/ha/.local/state/mbox-vault/$state"

"$PY" "$E2E/corpus.py" small "$T/md" --add --count 10 --seed 7 ||
	fail "corpus.py added messages"
mvh "$T/hb" pull "maildir:$T/md" "$T/a.mv" --identity "$T/id"
expect_rc 0 "second pull (machine B, no state: reads every record)"
check "machine B's state says version 2" \
	grep -qx 'proven 2' "$T/hb/.local/state/mbox-vault/$state"
cp "$T/a.mv" "$T/pristine.mv"

# Damage after version 1: the first record machine B added.
off=$(records "$T/a.mv" | awk -v s="$size1" '$1 == s {print $1}')
if [ -z "$off" ]; then
	fail "a record starts where version 1 ended ($size1)"
else
	flip "$T/a.mv" $((off + 9))      # its sequence number
	before=$(fsha "$T/a.mv")
	mvh "$T/ha" pull "maildir:$T/md" "$T/a.mv" --identity "$T/id"
	expect_rc 4 "machine A (proven 1) refuses a pull over damage added since version 1"
	check "... and names it" grep -q 'damaged or altered' "$T/err"
	check "... and leaves the archive as it was" [ "$(fsha "$T/a.mv")" = "$before" ]
fi

# Damage before version 2 (a record of version 1), seen from machine B.
cp "$T/pristine.mv" "$T/b.mv"
off1=$(records "$T/b.mv" | awk 'NR == 3 {print $1}')
flip "$T/b.mv" $((off1 + 9))
cp "$T/b.mv" "$T/c.mv"
cp "$T/b.mv" "$T/d.mv"
cp -r "$T/hb" "$T/hb2"
# The state names the archive ID, which b.mv shares with a.mv.
mvh "$T/hb" pull "maildir:$T/md" "$T/b.mv" --identity "$T/id"
expect_rc 0 "machine B (proven 2) does not read version 1's records again: its pull adds a version"
mvh "$T/hb" verify "$T/b.mv"
expect_rc 4 "verify (which reads every record) finds the damage under version 1"
mvh "$T/hc" pull "maildir:$T/md" "$T/c.mv" --identity "$T/id"
expect_rc 4 "a machine that remembers nothing refuses to pull over the same damage"

# A state line that names a version the archive does not have: whole check.
sed -i 's/^proven .*/proven 99/' "$T/hb2/.local/state/mbox-vault/$state"
mvh "$T/hb2" pull "maildir:$T/md" "$T/d.mv" --identity "$T/id"
expect_rc 4 "a 'proven' line past the archive's last version is ignored (whole check)"

# And the undamaged archive still pulls on both machines.
cp "$T/pristine.mv" "$T/e.mv"
mvh "$T/ha" pull "maildir:$T/md" "$T/e.mv" --identity "$T/id"
expect_rc 0 "machine A pulls the undamaged archive (checking what B added)"
mvh "$T/ha" verify "$T/e.mv" --identity "$T/id"
expect_rc 0 "and it verifies with the key"
finish
