#!/bin/sh
# t42-push-forms: push and verify --against recognise a message that a
# real Dovecot holds in another form than the archive's bytes, checked
# with an independent client (imaplib, tests/imap/imapread.py):
#  - an archive pulled from a Maildir holding a base64 attachment (which
#    BINARY[] would decode), a quoted-printable message, an LF-only
#    message (served with CRLF: another size), a bare CR in the middle, a
#    NUL (BODY[] shows it as 0x80), a final bare CR (dropped on APPEND)
#    and a plain CRLF message is pushed;
#  - verify --against exits 0 and counts apart the two that match only as
#    the server stores them (LF-only, final CR), text and JSON;
#  - push again, without and with push's record, appends nothing (the
#    target's messages are the same, checked by imaplib);
#  - a message deleted on the target is reported missing, one replaced by
#    another of the same date and size (as the server counts it) is
#    reported altered: exit 4;
#  - an archive pulled from an mbox (LF) is pushed, found again without
#    the record, and verified.
. "$(dirname "$0")/../e2e/lib.sh"
need_bin "$MV_ASAN"
IMAP=$MV_TOP/tests/imap
. "$IMAP/dovecot.sh"
trap 'dv_stop_all >/dev/null 2>&1; cleanup' EXIT

md=$T/src
mkdir -p "$md/cur" "$md/new" "$md/tmp"
# One message per form, each with its own date (file time), so that the
# altered one can be told by its date.
put() { printf "$2" >"$md/cur/$1.h:2,S"; touch -d "@$1" "$md/cur/$1.h:2,S"; }
put 1700000001 'Subject: b64\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4v\r\nMDEyMzQ1Njc4OTo7PD0+P0BBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWltcXV5f\r\n--b--\r\n'
put 1700000002 'Subject: qp\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\ncaf=C3=A9 =3D soft=\r\nbreak\r\n'
put 1700000003 'Subject: lf\nFrom: a@example.org\n\nline one\nline two\n'
put 1700000004 'Subject: cr\r\n\r\nbare\rcr inside\r\n'
put 1700000005 'Subject: nul\r\n\r\nx\000y\r\n'
put 1700000006 'Subject: final cr\r\n\r\nends in a bare CR\r'
put 1700000007 'Subject: plain\r\n\r\nplain text\r\n'

DV_SEPARATOR=. dv_start dst || { fail "the target Dovecot starts"; finish; }
TPORT=$DV_PORT_IMAPS TCA=$DV_CA TPASS=$DV_PASS_alice
rd() { "$PY" "$IMAP/imapread.py" "$@" --port "$TPORT" --ca "$TCA" --user alice --passfile "$TPASS"; }
count() { "$PY" -c "import json,sys; print(len(json.load(open(sys.argv[1]))['folders']['INBOX']['messages']))" "$1"; }
# uid_of MANIFEST DATE-PREFIX: the UID of the INBOX message of that date.
uid_of() { "$PY" -c "import json,sys; m=json.load(open(sys.argv[1]))['folders']['INBOX']['messages']; print([u for u,v in m.items() if v['date'].startswith(sys.argv[2])][0])" "$1" "$2"; }

id=$T/owner.id
mvrun keygen --unprotected -o "$id"
arch=$T/a.mv
mvrun pull "maildir:$md" "$arch" --identity "$id"
expect_rc 0 "pull maildir: of the 7 messages exits 0"

push() { mvrun --log-json push "$arch" "imaps://alice@127.0.0.1:$TPORT" --identity "$id" --cacert "$TCA" --password-file "$TPASS" "$@"; }
push
expect_rc 0 "push into the target exits 0"
check "the push appended the 7 messages" grep -q '"event":"done".*"appended":7' "$T/err"
rd manifest >"$T/d1.json"
check "the target holds 7 messages" test "$(count "$T/d1.json")" = 7

va() { mvrun verify "$arch" --against "imaps://alice@127.0.0.1:$TPORT" --identity "$id" --cacert "$TCA" --password-file "$TPASS" "$@"; }
va
expect_rc 0 "verify --against the pushed target exits 0"
check "verify --against counts the 2 that differ only in line ends as the server stores them (LF-only, final CR)" \
	grep -q 'INBOX -> INBOX: 7 messages, 7 match (2 of them differ only in line ends/NUL as the server stores them)$' "$T/out"
check "verify --against says the target matches, 2 as the server stores them" \
	grep -q 'the target matches version 1: .*2 of them as the server stores them' "$T/out"
va --json
expect_rc 0 "verify --against --json exits 0"
check "the JSON result says match, none missing, extra or altered, 2 rendered" \
	grep -q '"event":"result","version":1,"match":true,"missing":0,"extra":0,"altered":0,"flags":0,"dates":0,"rendered":2' "$T/out"
check "the JSON folder line says 7 matched, 2 of them rendered" \
	grep -q '"event":"folder","folder":"INBOX".*"matched":7,"rendered":2,' "$T/out"

for mode in no-state record; do
	opt=
	[ $mode = no-state ] && opt=--no-state
	push $opt
	expect_rc 0 "($mode) a second push exits 0"
	check "($mode) the second push finds all 7 present and appends nothing" \
		grep -q '"event":"done".*"appended":0,"present":7' "$T/err"
	rd manifest >"$T/d2.json"
	check "($mode) after it the target is unchanged (imaplib: same 7 messages, no duplicate)" \
		cmp -s "$T/d1.json" "$T/d2.json"
done

# The target changes: the quoted-printable message is deleted, the LF-only
# one is replaced by another of its date and of the size the server gave
# it (its CRLF form, one letter changed).
qp=$(uid_of "$T/d1.json" '14-Nov-2023 22:13:22')
lf=$(uid_of "$T/d1.json" '14-Nov-2023 22:13:23')
rd expunge INBOX "$qp" || fail "imaplib deletes the quoted-printable message"
rd expunge INBOX "$lf" || fail "imaplib removes the LF-only message"
printf 'Subject: lf\r\nFrom: a@example.org\r\n\r\nline one\r\nline 2wo\r\n' >"$T/alt.eml"
rd append INBOX "$T/alt.eml" '(\Seen)' '14-Nov-2023 22:13:23 +0000' || fail "imaplib appends the altered message"
va --json
expect_rc 4 "verify --against a target with a deleted and an altered message exits 4"
check "the deleted message is reported missing" grep -q '"event":"missing","folder":"INBOX","archive_uid":2,' "$T/out"
check "the altered LF-only message is reported altered (same date, the size the server gives it)" \
	grep -q '"event":"altered","folder":"INBOX","archive_uid":3,' "$T/out"
check "the JSON result says no match: 1 missing, 1 altered, nothing extra, 1 rendered" \
	grep -q '"event":"result","version":1,"match":false,"missing":1,"extra":0,"altered":1,"flags":0,"dates":0,"rendered":1' "$T/out"
va
expect_rc 4 "verify --against (text) exits 4 too"
check "the text report names the folder's missing and altered message" \
	grep -q 'INBOX -> INBOX: 7 messages, 5 match (1 of them differ only in line ends/NUL as the server stores them), 1 MISSING, 1 ALTERED' "$T/out"

# An archive pulled from an mbox (LF line ends, a quoted From line) into
# another folder: found again without the record, verified.
printf 'From a@example.org Tue Nov 14 22:13:30 2023\nSubject: mbox one\n\nhello\n>From the start\n\nFrom b@example.org Tue Nov 14 22:13:31 2023\nSubject: mbox two\n\nbye\n' >"$T/in.mbox"
mvrun pull "mbox:$T/in.mbox" "$T/b.mv" --identity "$id"
expect_rc 0 "pull mbox: of 2 messages exits 0"
pushb() { mvrun --log-json push "$T/b.mv" "imaps://alice@127.0.0.1:$TPORT" --identity "$id" --cacert "$TCA" --password-file "$TPASS" --map INBOX=Mbox "$@"; }
pushb
expect_rc 0 "push of the mbox archive into Mbox exits 0"
pushb --no-state
check "push --no-state of it again finds both present and appends nothing" \
	grep -q '"event":"done".*"appended":0,"present":2' "$T/err"
mvrun verify "$T/b.mv" --against "imaps://alice@127.0.0.1:$TPORT" --identity "$id" --cacert "$TCA" --password-file "$TPASS" --map INBOX=Mbox --json
expect_rc 0 "verify --against the Mbox folder exits 0"
check "it counts both as matching only as the server stores them" \
	grep -q '"event":"result","version":1,"match":true,.*"rendered":2' "$T/out"
rd manifest >"$T/d3.json"
check "the target's Mbox folder holds the 2 messages once, in CRLF (imaplib)" "$PY" -c "
import json, sys
m = json.load(open('$T/d3.json'))['folders']['Mbox']['messages']
sys.exit(0 if sorted(v['size'] for v in m.values()) == [26, 44] else 1)"

finish
