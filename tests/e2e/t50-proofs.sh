#!/bin/sh
# t50-proofs: `prove` and `check-proof` (format-spec 11.1).
#
# An archive owned by an unprotected identity holds a Maildir with two
# messages of equal size, a 700 kB incompressible message (3 chunks), an
# empty one, a CRLF one and one in the folder "été" (modified UTF-7 on
# disk).  Proofs of each check against the source file's bytes.  Each of
# these is refused with the documented exit code and a message that says
# why: one changed, added or removed byte of the message; another message's
# bytes (same size, other size); every metadata field of the proof's entry
# edited (folder, flags, INTERNALDATE, UID, keywords, position); any bit of
# the commit, key, chunks or signer flipped; chunks dropped or reordered;
# another message's entry spliced in; a wrong --signer; a proof from a
# second archive holding the same message, with the first archive's signer
# and with its own signer but the first archive's checkpoint, commit or
# chunks spliced in; a truncated or non-proof file.  A proof of version 1
# still checks after two more pulls and a grant, `prove --version 1` gives
# version 1's metadata, and a proof of a grant commit checks.  A proof holds
# one message key that opens only its own message, and none of the
# identity's key bytes, the header's wrapped keys or other messages' data.
. "$(dirname "$0")/lib.sh"
need_bin "$MV"
# A concurrent build may relink the binary under test: a command the shell
# could not start (status 126 or 127) is retried for up to a minute.
mvrun() {
	_try=0
	while :; do
		"$MV" "$@" >"$T/out" 2>"$T/err" </dev/null
		rc=$?
		{ [ "$rc" -eq 126 ] || [ "$rc" -eq 127 ]; } && [ $_try -lt 30 ] || break
		_try=$((_try + 1))
		sleep 2
	done
	no_crash "$*"
}
# ok NAME: PASS if the command list just before succeeded, else FAIL.
ok() {
	_s=$?
	if [ "$_s" -eq 0 ]; then pass "$1"; else fail "$1"; fi
}
MVPY() { "$PY" "$E2E/mvlib.py" "$@"; }
fsha() { sha256sum "$1" | cut -d' ' -f1; }
# expect_fail WANT REGEX NAME: $rc is WANT, stderr matches REGEX
# (case-insensitive, the "clear message") and stdout says no "OK".
expect_fail() {
	if [ "$rc" -eq "$1" ] && grep -Eiq -- "$2" "$T/err" && ! grep -q '^OK' "$T/out"; then
		pass "$3"
	else
		fail "$3 (exit $rc, want $1 and a message matching /$2/: $(head -c 300 "$T/err" | tr '\n' ' '))"
	fi
}
# cp_ok PROOF MSG NAME: check-proof of PROOF against MSG with $FP exits 0.
cp_ok() {
	mvrun check-proof "$1" "$2" --signer "${4:-$FP}"
	if [ "$rc" -eq 0 ] && grep -q '^OK: ' "$T/out"; then
		pass "$3"
	else
		fail "$3 (exit $rc: $(head -c 300 "$T/err" | tr '\n' ' '))"
	fi
}

# ---- the mailbox ----
MARK="MVOTHERMSG$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
MARKF="MVOTHERFOLDER$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
"$PY" - "$T/md" "$MARK" "$MARKF" <<'EOF' || fail "the test Maildir is written"
import os, random, sys
root, mark, markf = sys.argv[1], sys.argv[2], sys.argv[3]
def folder(raw=None):
    p = root if raw is None else os.path.join(root, "." + raw)
    for s in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(p, s), exist_ok=True)
    return p
def put(f, name, data, t):
    p = os.path.join(f, "cur", name)
    with open(p, "wb") as fh:
        fh.write(data)
    os.utime(p, (t, t))
rng = random.Random(50)
inbox = folder()
put(inbox, "1000.one.host:2,S", b"Subject: one\n\nhello one\n", 1700000000)
put(inbox, "1001.two.host:2,RS", b"Subject: two\n\nhello two\n", 1700000001)
put(inbox, "1002.big.host:2,F", b"Subject: big\n\n" + rng.randbytes(700000), 1700000002)
put(inbox, "1003.empty.host:2,", b"", 1700000003)
put(inbox, "1004.crlf.host:2,T", b"Subject: crlf\r\n\r\nbody\r\n", 1700000004)
put(inbox, "1005.other.host:2,S", ("Subject: %s\n\n%s\n" % (mark, mark)).encode(), 1700000005)
ete = folder("&AOk-t&AOk-")
with open(os.path.join(ete, "dovecot-keywords"), "w") as fh:
    fh.write("0 Work\n")
put(ete, "1100.ete.host:2,Sa", "Subject: été\n\ncorps en été\n".encode(), 1700000100)
sec = folder(markf)
put(sec, "1200.sec.host:2,S", b"Subject: secret folder\n\nx\n", 1700000200)
EOF
M1=$T/md/cur/1000.one.host:2,S
M2=$T/md/cur/1001.two.host:2,RS
MBIG=$T/md/cur/1002.big.host:2,F
MEMPTY=$T/md/cur/1003.empty.host:2,
MCRLF=$T/md/cur/1004.crlf.host:2,T
METE=$T/md/.\&AOk-t\&AOk-/cur/1100.ete.host:2,Sa
check "the two short messages have the same size (so only their bytes differ)" \
	[ "$(fsize "$M1")" = "$(fsize "$M2")" ]

mvrun keygen --unprotected -o "$T/owner.id"
expect_rc 0 "keygen --unprotected (the archive owner) exits 0"
FP=$(sed -n 's/^signer: //p' "$T/owner.id")
mvrun keygen --unprotected -o "$T/other.id"
FPB=$(sed -n 's/^signer: //p' "$T/other.id")
ID="--identity $T/owner.id"

mvrun pull $ID "maildir:$T/md" "$T/a.mv"
expect_rc 0 "pull of the test Maildir (version 1) exits 0"
mvrun ls "$T/a.mv" $ID
cp "$T/out" "$T/ls1"
{ grep -q "^  INBOX/6  " "$T/ls1" && grep -q "^  été/1  " "$T/ls1" && grep -q "^  $MARKF/1  " "$T/ls1"; }
ok "ls lists INBOX/1..6, été/1 and the marker folder"

# ---- proofs that check ----
mvrun prove "$T/a.mv" INBOX/1 -o "$T/p1" $ID
expect_rc 0 "prove INBOX/1 exits 0"
check "prove prints the check-proof command with the owner's fingerprint" grep -q -- "--signer $FP" "$T/out"
check "the proof file is created 0600" [ "$(fmode "$T/p1")" = 600 ]
cp_ok "$T/p1" "$M1" "check-proof of INBOX/1 against its source file exits 0"
check "check-proof names UID 1, version 1 and the signer" \
	grep -q "UID 1 of folder 'INBOX' in version 1, signed by $FP" "$T/out"
check "check-proof reports INBOX/1's INTERNALDATE and \\Seen (0x1)" \
	grep -q 'INTERNALDATE "14-Nov-2023 22:13:20 +0000", flags 0x1$' "$T/out"

mvrun prove "$T/a.mv" INBOX/2 -o "$T/p2" $ID
cp_ok "$T/p2" "$M2" "check-proof of INBOX/2 exits 0"

mvrun prove "$T/a.mv" INBOX/3 -o "$T/pbig" $ID
expect_rc 0 "prove of the 700 kB message exits 0"
nch=$(MVPY proof-info "$T/pbig" | sed -n 's/^chunks=//p')
check "the 700 kB incompressible message's proof carries 3 chunks ($nch)" [ "${nch:-0}" -eq 3 ]
cp_ok "$T/pbig" "$MBIG" "check-proof of the 3-chunk message exits 0"

mvrun prove "$T/a.mv" INBOX/4 -o "$T/pempty" $ID
cp_ok "$T/pempty" "$MEMPTY" "check-proof of the empty message (one empty chunk) exits 0"
mvrun prove "$T/a.mv" INBOX/5 -o "$T/pcrlf" $ID
cp_ok "$T/pcrlf" "$MCRLF" "check-proof of a CRLF message exits 0"

mvrun prove "$T/a.mv" "été/1" -o "$T/pete" $ID
expect_rc 0 "prove été/1 (a non-ASCII folder named in UTF-8) exits 0"
cp_ok "$T/pete" "$METE" "check-proof of the message in folder été exits 0"
check "check-proof names folder été (as UTF-8 or as stored, modified UTF-7) and UID 1" \
	grep -Eq "UID 1 of folder '(été|&AOk-t&AOk-)' in version 1" "$T/out"

id6=$(sed -n 's/^  INBOX\/6  #\([0-9a-f]*\) .*/\1/p' "$T/ls1")
mvrun prove "$T/a.mv" "#$id6" -o "$T/p6" $ID
expect_rc 0 "prove by message ID (#$id6) exits 0"
cp_ok "$T/p6" "$T/md/cur/1005.other.host:2,S" "check-proof of a proof made from a #ID reference exits 0"

# Small chunks: a 20 kB message over 5 chunks of 4 KiB (the checker derives
# the chunk size from the first chunk record, format-spec 11.1).
mkdir -p "$T/small/cur" "$T/small/new" "$T/small/tmp"
{ printf 'Subject: small chunks\n\n'; head -c 20000 /dev/urandom; } >"$T/small/cur/1.s:2,S"
printf 'Subject: tiny\n\nx\n' >"$T/small/cur/2.s:2,S"
mvrun pull --chunk-size-log 12 $ID "maildir:$T/small" "$T/c.mv"
expect_rc 0 "pull --chunk-size-log 12 exits 0"
mvrun prove "$T/c.mv" INBOX/1 -o "$T/pc1" $ID
nch=$(MVPY proof-info "$T/pc1" | sed -n 's/^chunks=//p')
check "a 20 kB message in 4 KiB chunks has a proof of 5 or 6 chunks ($nch)" [ "${nch:-0}" -ge 5 ]
cp_ok "$T/pc1" "$T/small/cur/1.s:2,S" "check-proof of a message over 4 KiB chunks exits 0"
mvrun prove "$T/c.mv" INBOX/2 -o "$T/pc2" $ID
cp_ok "$T/pc2" "$T/small/cur/2.s:2,S" "check-proof of a one-chunk message in a 4 KiB-chunk archive exits 0"

# ---- the message must be the proven one ----
"$PY" - "$MBIG" "$T/big-flip" "$M1" "$T/one" <<'EOF'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
b[300000] ^= 0x20
open(sys.argv[2], "wb").write(b)
one = open(sys.argv[3], "rb").read()
open(sys.argv[4] + "-first", "wb").write(bytes([one[0] ^ 1]) + one[1:])
open(sys.argv[4] + "-last", "wb").write(one[:-1] + bytes([one[-1] ^ 1]))
open(sys.argv[4] + "-plus", "wb").write(one + b"\n")
open(sys.argv[4] + "-minus", "wb").write(one[:-1])
EOF
mvrun check-proof "$T/pbig" "$T/big-flip" --signer "$FP"
expect_fail 4 'differs .*byte 300000' "one changed byte in the 2nd chunk of the 700 kB message: exit 4, names byte 300000"
mvrun check-proof "$T/p1" "$T/one-first" --signer "$FP"
expect_fail 4 'differs' "the first byte of INBOX/1 changed: exit 4 (message differs)"
mvrun check-proof "$T/p1" "$T/one-last" --signer "$FP"
expect_fail 4 'differs' "the last byte of INBOX/1 changed: exit 4"
mvrun check-proof "$T/p1" "$T/one-plus" --signer "$FP"
expect_fail 4 'bytes' "INBOX/1 with one byte appended: exit 4 (size differs)"
mvrun check-proof "$T/p1" "$T/one-minus" --signer "$FP"
expect_fail 4 'bytes' "INBOX/1 with its last byte removed: exit 4"
mvrun check-proof "$T/p1" "$M2" --signer "$FP"
expect_fail 4 'differs' "another message of the same size (INBOX/2) against INBOX/1's proof: exit 4"
mvrun check-proof "$T/p1" "$MCRLF" --signer "$FP"
expect_fail 4 'bytes' "another message of another size against INBOX/1's proof: exit 4"
mvrun check-proof "$T/pempty" "$M1" --signer "$FP"
expect_fail 4 'bytes' "a non-empty message against the empty message's proof: exit 4"
mvrun check-proof "$T/p1" "$MEMPTY" --signer "$FP"
expect_fail 4 'bytes' "the empty message against INBOX/1's proof: exit 4"

# ---- edited proofs ----
# edit NAME OP [ARG...]: edits p1 (or $SRC) with mvlib.py proof-edit and
# expects check-proof against INBOX/1 (or $MSG) to exit ${WANT:-4}.
edit() {
	_n=$1; shift
	rm -f "$T/pe"
	if ! MVPY proof-edit "${SRC:-$T/p1}" "$T/pe" "$@" 2>"$T/py.err"; then
		fail "$_n (mvlib.py proof-edit $*: $(tail -1 "$T/py.err"))"
		return
	fi
	mvrun check-proof "$T/pe" "${MSG:-$M1}" --signer "${SIGNER:-$FP}"
	expect_fail "${WANT:-4}" "${RE:-.}" "$_n"
	# Prefix assignments to a function may outlive the call (bash --posix).
	unset SRC MSG SIGNER WANT RE
}
RE='entr' edit "entry folder changed INBOX -> INBOY: exit 4, entry not in the tree" entry-folder INBOY
RE='entr' edit "entry folder changed to another existing folder (&AOk-t&AOk-): exit 4" entry-folder '&AOk-t&AOk-'
RE='entr' edit "entry flags changed \\Seen -> \\Seen \\Flagged: exit 4" entry-flags 5
RE='entr' edit "entry flags cleared: exit 4" entry-flags 0
RE='entr' edit "entry INTERNALDATE changed by one digit: exit 4" entry-date '14-Nov-2023 22:13:21 +0000'
RE='entr' edit "entry INTERNALDATE changed to another year: exit 4" entry-date '14-Nov-2013 22:13:20 +0000'
RE='entr' edit "entry UID changed 1 -> 2: exit 4" entry-uid 2
RE='entr' edit "entry keyword added: exit 4" entry-keywords Work
RE='entr' edit "entry-index changed: exit 4" entry-index 1
RE='version|disagree' edit "version line changed 1 -> 2: exit 4" version 2
RE='commit' edit "one bit of the commit payload flipped: exit 4" flip commit
RE='entr' edit "one bit of the entry bytes flipped: exit 4" flip entry
RE='commitment' edit "one bit of the message key flipped: exit 4 (key commitment)" flip message-key
RE='chunk|tree' edit "one bit of the chunk record flipped: exit 4" flip chunk0
WANT=6 RE='signer|signed' edit "one bit of the signer key flipped: exit 6 (not the required signer)" flip signer
RE='chunk|record' edit "INBOX/2's entry, index and path spliced into INBOX/1's proof (equal sizes): exit 4" \
	take entry,entry-index,entry-path "$T/p2"
MSG=$M2 RE='chunk|record|commitment|decrypt' edit "the same splice checked against INBOX/2's bytes: exit 4" \
	take entry,entry-index,entry-path "$T/p2"
SRC=$T/pbig MSG=$MBIG RE='chunk|line' edit "the 3-chunk proof without its 2nd chunk: exit 4" drop-chunk 1
SRC=$T/pbig MSG=$MBIG RE='chunk' edit "the 3-chunk proof with its first two chunks swapped: exit 4" swap-chunks
SRC=$T/pbig MSG=$MBIG RE='chunk|tree' edit "one bit of the last chunk of the 3-chunk proof flipped: exit 4" flip chunkN

# ---- the signer ----
mvrun check-proof "$T/p1" "$M1" --signer "$FPB"
expect_fail 6 "not by the required $FPB" "check-proof with another identity's fingerprint: exit 6"
badfp=$(echo "$FP" | sed 's/^\(.\{63\}\)\(.\)$/\1/')$(echo "$FP" | cut -c64 | tr '0-9a-f' '1-9a-f0')
mvrun check-proof "$T/p1" "$M1" --signer "$badfp"
expect_fail 6 'signer|signed' "check-proof with the fingerprint's last digit changed: exit 6"
mvrun check-proof "$T/p1" "$M1" --signer xyz
expect_fail 2 'fingerprint|usage' "check-proof with a malformed fingerprint: exit 2"
mvrun check-proof "$T/p1" "$M1"
expect_fail 2 'usage' "check-proof without --signer: exit 2"

# ---- a second archive holding the same message ----
mkdir -p "$T/mdb/cur" "$T/mdb/new" "$T/mdb/tmp"
cp -p "$M1" "$T/mdb/cur/"
printf 'Subject: b only\n\nb\n' >"$T/mdb/cur/0999.b.host:2,S"
mvrun pull --identity "$T/other.id" "maildir:$T/mdb" "$T/b.mv"
expect_rc 0 "pull of the same INBOX/1 file (and another) into a second archive exits 0"
mvrun prove "$T/b.mv" INBOX/2 -o "$T/pb1" --identity "$T/other.id"
cp_ok "$T/pb1" "$M1" "the second archive's proof of the same message checks with its own signer" "$FPB"
mvrun check-proof "$T/pb1" "$M1" --signer "$FP"
expect_fail 6 "not by the required $FP" "the second archive's proof with the first archive's --signer: exit 6"
SRC=$T/pb1 SIGNER=$FPB RE='signature|checkpoint' \
	edit "second archive's proof with the first archive's checkpoint, own signer: exit 4" take note "$T/p1"
SRC=$T/pb1 RE='commit|checkpoint|disagree' \
	edit "second archive's proof with the first archive's signer and checkpoint: exit 4" take signer,note "$T/p1"
SRC=$T/pb1 RE='entr|tree' \
	edit "second archive's entry, key and chunks under the first archive's signed commit: exit 4" \
	take archive,signer,version,commit,note "$T/p1"
RE='chunk|tree|commitment' \
	edit "first archive's proof with the second archive's message key and chunks: exit 4" \
	take message-key,chunks "$T/pb1"
RE='commit|checkpoint' \
	edit "first archive's proof with the second archive's commit payload: exit 4" take commit "$T/pb1"
RE='disagree|archive' \
	edit "first archive's proof with the second archive's ID line: exit 4" take archive "$T/pb1"

# ---- truncated and non-proof files ----
plen=$(fsize "$T/p1")
cpos=$(grep -b -o '^checkpoint:$' "$T/p1" | cut -d: -f1)
bad=
for cut in 0 1 19 20 60 150 $((cpos - 1)) "$cpos" $((cpos + 12)) $((cpos + 60)) \
	$((plen - 40)) $((plen - 2)) $((plen - 1)); do
	head -c "$cut" "$T/p1" >"$T/ptrunc"
	mvrun check-proof "$T/ptrunc" "$M1" --signer "$FP"
	if [ "$rc" -eq 0 ] || ! grep -q '^mbox-vault: ' "$T/err"; then
		bad="$bad $cut:exit$rc"
	fi
done
check "INBOX/1's proof cut after 13 different lengths is refused with a message each time ($bad)" [ -z "$bad" ]
bad=
for cut in 0 60 $((cpos - 1)) "$cpos"; do
	head -c "$cut" "$T/p1" >"$T/ptrunc"
	mvrun check-proof "$T/ptrunc" "$M1" --signer "$FP"
	[ "$rc" -eq 11 ] || bad="$bad $cut:exit$rc"
done
printf 'hello\nnot a proof\n' >"$T/notproof"
mvrun check-proof "$T/notproof" "$M1" --signer "$FP"
[ "$rc" -eq 11 ] || bad="$bad not-a-proof:exit$rc"
check "a proof file cut before its checkpoint, empty, or not a proof exits 11 (README: malformed proof file) ($bad)" [ -z "$bad" ]
mvrun check-proof "$T/no-such-proof" "$M1" --signer "$FP"
check "check-proof of a missing proof file fails (exit $rc)" [ "$rc" -ne 0 ]

# ---- older versions ----
cp "$T/p1" "$T/p1-v1"
mv "$M1" "$T/md/cur/1000.one.host:2,FS"
M1=$T/md/cur/1000.one.host:2,FS
printf 'Subject: v2\n\nnew in version 2\n' >"$T/md/cur/2000.v2.host:2,"
mvrun pull $ID "maildir:$T/md" "$T/a.mv"
expect_rc 0 "pull of version 2 (INBOX/1 now \\Flagged, one new message) exits 0"
printf 'Subject: v3\n\nnew in version 3\n' >"$T/md/cur/3000.v3.host:2,"
mvrun pull $ID "maildir:$T/md" "$T/a.mv"
expect_rc 0 "pull of version 3 exits 0"
mvrun keygen --unprotected -o "$T/reader.id"
mvrun grant "$T/a.mv" $ID --recipient "$(sed -n 's/^recipient: //p' "$T/reader.id")"
expect_rc 0 "grant (version 4, a grant commit) exits 0"
cp_ok "$T/p1-v1" "$M1" "a proof written at version 1 still checks after versions 2, 3 and 4"
check "... and still says version 1" grep -q "in version 1," "$T/out"
mvrun prove "$T/a.mv" INBOX/1 --version 1 -o "$T/p1-again" $ID
expect_rc 0 "prove --version 1 after three more versions exits 0"
cp_ok "$T/p1-again" "$M1" "the new proof of version 1 checks"
{ grep -q "in version 1, signed" "$T/out" && grep -q 'flags 0x1$' "$T/out"; }
ok "... names version 1 and version 1's flags (\\Seen only, 0x1)"
mvrun prove "$T/a.mv" INBOX/1 -o "$T/p1-v3" $ID
cp_ok "$T/p1-v3" "$M1" "a proof of the newest complete version (3) checks"
{ grep -q "in version 3, signed" "$T/out" && grep -q 'flags 0x5$' "$T/out"; }
ok "... names version 3 and the new flags (\\Seen \\Flagged, 0x5)"
SRC=$T/p1-v1 RE='entr|version' edit "version 1's proof with version 3's entry of the same message: exit 4" \
	take entry,entry-index,entry-path "$T/p1-v3"
mvrun prove "$T/a.mv" INBOX/1 --version 4 -o "$T/p1-grant" $ID
expect_rc 0 "prove --version 4 (a grant commit, which keeps version 3's index) exits 0"
cp_ok "$T/p1-grant" "$M1" "the proof of the grant commit checks"
mvrun prove "$T/a.mv" INBOX/1 --version 9 -o "$T/p1-9" $ID
expect_fail 12 'version 9' "prove --version 9 (absent): exit 12"
check "... and writes no file" [ ! -e "$T/p1-9" ]

# ---- prove itself ----
sum=$(fsha "$T/p2")
mvrun prove "$T/a.mv" INBOX/1 -o "$T/p2" $ID
{ [ "$rc" -ne 0 ] && [ "$(fsha "$T/p2")" = "$sum" ]; }
ok "prove does not overwrite an existing file (exit $rc)"
mvrun prove "$T/a.mv" INBOX/1 -o "$T/p-nokey"
expect_fail 3 'key' "prove without a key: exit 3 (a proof discloses a message key)"
check "... and writes no file" [ ! -e "$T/p-nokey" ]
mvrun prove "$T/a.mv" NoSuch/1 -o "$T/p-nosuch" $ID
expect_fail 12 'no message' "prove of a message that does not exist: exit 12"

# ---- what a proof discloses ----
check "the proof holds exactly one message-key line" [ "$(grep -c '^message-key: ' "$T/p1")" -eq 1 ]
k1=$(MVPY proof-info "$T/p1" | sed -n 's/^message_key=//p')
k2=$(MVPY proof-info "$T/p2" | sed -n 's/^message_key=//p')
{ [ -n "$k1" ] && [ "$k1" != "$k2" ]; }
ok "two messages' proofs disclose different message keys"
SRC=$T/p2 MSG=$M2 RE='commitment' \
	edit "INBOX/1's message key does not open INBOX/2's chunks (exit 4, key commitment)" take message-key "$T/p1"
SRC=$T/pbig MSG=$MBIG RE='commitment' \
	edit "INBOX/1's message key does not open the big message's chunks" take message-key "$T/p1"
# The owner identity's secret key bytes (X25519 secret, Ed25519 seed).
sec=$("$PY" -c 'import base64, sys
s = base64.b64decode(open(sys.argv[1]).read().split("secret: ")[1].split()[0])
print(s.hex(), s[:32].hex(), s[32:].hex())' "$T/owner.id")
found=$(MVPY secret-search "$T/owner.id" $sec | wc -l)
check "positive control: the secret search finds the 3 key forms in the identity file ($found)" [ "$found" -eq 3 ]
for p in p1 pbig pete p1-v3 p1-grant; do
	found=$(MVPY secret-search "$T/$p" $sec)
	check "proof $p holds no byte string of the owner's secret keys, raw, hex or base64 ($found)" [ -z "$found" ]
done
stz=$(MVPY header-stanzas "$T/a.mv")
found=$(MVPY secret-search "$T/a.mv" $stz | wc -l)
check "positive control: the header's wrapped-key slices are found in the archive ($found)" [ "$found" -gt 0 ]
found=$(MVPY secret-search "$T/p1" $stz | wc -l)
check "the proof holds no slice of the header's wrapped file key ($found)" [ "$found" -eq 0 ]
hexmark=$(printf '%s' "$MARK" | od -An -tx1 | tr -d ' \n')
hexmarkf=$(printf '%s' "$MARKF" | od -An -tx1 | tr -d ' \n')
found=$(MVPY secret-search "$T/md/cur/1005.other.host:2,S" "$hexmark" | wc -l)
check "positive control: the marker search finds INBOX/6's marker in its source file" [ "$found" -eq 1 ]
found=$(MVPY secret-search "$T/p1" "$hexmark" "$hexmarkf")
check "INBOX/1's proof names neither another message's text nor another folder ($found)" [ -z "$found" ]

finish
