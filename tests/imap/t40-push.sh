#!/bin/sh
# t40-push: `mbox-vault push ARCHIVE imaps://...` into a second real
# Dovecot whose hierarchy delimiter differs ('.' against the source's '/'),
# checked with an independent client (imaplib, tests/imap/imapread.py):
# the round trip source -> archive -> target message by message (bytes incl.
# NUL, flags, keywords, INTERNALDATE, nested and non-ASCII folders); a second
# push appends nothing; --dry-run says what it would do and changes nothing;
# a push killed midway and rerun completes without duplicates; --map and
# --folder; wrong password and plaintext refusal leave the target untouched.
. "$(dirname "$0")/../e2e/lib.sh"
need_bin "$MV_ASAN" "$MV_TEST"
IMAP=$MV_TOP/tests/imap
. "$IMAP/dovecot.sh"
trap 'dv_stop_all >/dev/null 2>&1; cleanup' EXIT

md=$T/src
mk() { mkdir -p "$md/$1/cur" "$md/$1/new" "$md/$1/tmp"; }
mk .; mk .Work; mk .Work.Projects; mk ".Fran&AOc-ais"; mk .Sent
printf '0 $Forwarded\n1 Work\n' >"$md/dovecot-keywords"
printf 'Subject: crlf\r\n\r\nline\r\n' >"$md/cur/1000000001.m1.h:2,S"
printf 'Subject: lf\n\nbare\n' >"$md/cur/1000000002.m2.h:2,FSab"
printf 'Subject: nul\r\n\r\nx\000y\r\n' >"$md/cur/1000000003.m3.h:2,"
printf 'Subject: d\r\n\r\nd\r\n' >"$md/cur/1000000004.m4.h:2,DR"
printf 'Subject: dup\r\n\r\nsame\r\n' >"$md/cur/1000000005.m5.h:2,S"
printf 'Subject: dup\r\n\r\nsame\r\n' >"$md/cur/1000000006.m6.h:2,S"
for i in 1 2 3; do printf 'Subject: p%s\r\n\r\n%s\r\n' $i $i >"$md/.Work.Projects/cur/10000000$i.p.h:2,S"; done
printf 'Subject: w\r\n\r\nw\r\n' >"$md/.Work/cur/1000000020.w.h:2,"
printf 'Subject: fr\r\n\r\nbonjour\r\n' >"$md/.Fran&AOc-ais/cur/1000000030.f.h:2,S"
printf 'Subject: sent\r\n\r\ns\r\n' >"$md/.Sent/cur/1000000040.s.h:2,S"
find "$md" -type f -name '1*' -exec touch -d '2024-02-03 04:05:06 UTC' {} +

dv_start src || { fail "the source Dovecot starts"; finish; }
dv_load alice "$md" || fail "the source mailbox loads"
SRC=$DV_DIR SPORT=$DV_PORT_IMAPS SCA=$DV_CA SPASS=$DV_PASS_alice
DV_SEPARATOR=. dv_start dst || { fail "the target Dovecot (delimiter '.') starts"; finish; }
DST=$DV_DIR TPORT=$DV_PORT_IMAPS TCA=$DV_CA TPASS=$DV_PASS_alice TPASSB=$DV_PASS_bob
pass "two throwaway Dovecots: source (delimiter /) on $SPORT, target (delimiter .) on $TPORT"
rd() { _p=$1 _c=$2 _u=$3 _f=$4; shift 4; "$PY" "$IMAP/imapread.py" "$@" --port "$_p" --ca "$_c" --user "$_u" --passfile "$_f"; }

id=$T/owner.id
mvrun keygen --unprotected -o "$id"
arch=$T/a.mv
mvrun pull "imaps://alice@127.0.0.1:$SPORT" "$arch" --identity "$id" --cacert "$SCA" --password-file "$SPASS"
expect_rc 0 "pull from the source exits 0"
rd "$SPORT" "$SCA" alice "$SPASS" manifest >"$T/src.json"

push() { mvrun --log-json push "$arch" "$@" --identity "$id" --cacert "$TCA"; }
push "imaps://alice@127.0.0.1:$TPORT" --password-file "$TPASS"
expect_rc 0 "push into the target exits 0"
rd "$TPORT" "$TCA" alice "$TPASS" manifest >"$T/dst1.json"
"$PY" "$IMAP/cmpservers.py" "$T/src.json" "$T/dst1.json" "the target holds what the source held, message by message, under the target's delimiter" || nfail=$((nfail + 1))
check "the target's nested folder is named with its own delimiter (Work.Projects)" grep -q '"name": "Work.Projects"' "$T/dst1.json"
check "the non-ASCII folder arrived as modified UTF-7 (Fran&AOc-ais)" grep -q '"name": "Fran&AOc-ais"' "$T/dst1.json"

push "imaps://alice@127.0.0.1:$TPORT" --password-file "$TPASS"
expect_rc 0 "a second push exits 0"
check "the second push appended nothing" grep -q '"event":"done".*"appended":0' "$T/err"
rd "$TPORT" "$TCA" alice "$TPASS" manifest >"$T/dst2.json"
check "after the second push the target is unchanged (no duplicates)" cmp -s "$T/dst1.json" "$T/dst2.json"

# verify --against: the target matches; then a deleted, an altered and an
# extra message are each caught (exit 4, named in the report and in JSON).
va() { mvrun verify "$arch" --against "imaps://alice@127.0.0.1:$TPORT" --identity "$id" --cacert "$TCA" --password-file "$TPASS" "$@"; }
va
expect_rc 0 "verify --against the freshly pushed target exits 0 (it matches)"
check "verify --against says the target matches" grep -q 'matches version' "$T/out"
uid_of() { "$PY" -c "import json,sys; m=json.load(open('$T/dst1.json'))['folders'][sys.argv[1]]['messages']; print(sorted(m, key=int)[0])" "$1"; }
rd "$TPORT" "$TCA" alice "$TPASS" expunge "Work/Projects" "$(uid_of Work/Projects)" || fail "imaplib deletes a message on the target"
wuid=$(uid_of Work)
rd "$TPORT" "$TCA" alice "$TPASS" expunge Work "$wuid" || fail "imaplib removes the original of the altered message"
printf 'Subject: W\r\n\r\nw\r\n' >"$T/alt.eml"
rd "$TPORT" "$TCA" alice "$TPASS" append Work "$T/alt.eml" '()' '03-Feb-2024 04:05:06 +0000' || fail "imaplib appends the altered message"
printf 'Subject: extra\r\n\r\nnot from the archive\r\n' >"$T/extra.eml"
rd "$TPORT" "$TCA" alice "$TPASS" append INBOX "$T/extra.eml" '(\Seen)' '01-Jan-2025 00:00:00 +0000' || fail "imaplib appends an extra message"
va --json
expect_rc 4 "verify --against a target with a deleted, an altered and an extra message exits 4"
check "the deleted message is reported missing (Work/Projects)" grep -q '"event":"missing","folder":"Work/Projects"' "$T/out"
check "the altered message is reported altered (Work)" grep -q '"event":"altered","folder":"Work"' "$T/out"
check "the extra message is reported extra (INBOX)" grep -q '"event":"extra","folder":"INBOX"' "$T/out"
check "the JSON result says no match with 1 missing, 1 altered, 1 extra" grep -q '"event":"result".*"match":false,"missing":1,"extra":1,"altered":1' "$T/out"
rd "$TPORT" "$TCA" alice "$TPASS" manifest >"$T/dst1.json"

# --dry-run into bob's empty account.
rd "$TPORT" "$TCA" bob "$TPASSB" manifest >"$T/b0.json"
push "imaps://bob@127.0.0.1:$TPORT" --password-file "$TPASSB" --dry-run
expect_rc 0 "push --dry-run exits 0"
n=$("$PY" -c "import json; print(sum(len(f['messages']) for f in json.load(open('$T/src.json'))['folders'].values()))")
check "--dry-run says all $n messages would be appended and which folders would be created" \
	sh -c "grep -q '\"event\":\"done\".*\"dry_run\":1,\"appended\":$n' '$T/err' && grep -q 'would create' '$T/err'"
rd "$TPORT" "$TCA" bob "$TPASSB" manifest >"$T/b1.json"
check "--dry-run changed nothing on the target" cmp -s "$T/b0.json" "$T/b1.json"

# --folder and --map into bob.
push "imaps://bob@127.0.0.1:$TPORT" --password-file "$TPASSB" --folder 'Work/*' --map 'Work/Projects=Old/Proj'
expect_rc 0 "push --folder 'Work/*' --map 'Work/Projects=Old/Proj' exits 0"
rd "$TPORT" "$TCA" bob "$TPASSB" manifest >"$T/b2.json"
check "--map put Work/Projects' 3 messages into Old/Proj and nothing else was pushed" \
	"$PY" -c "import json,sys; f=json.load(open('$T/b2.json'))['folders']; n={k:len(v['messages']) for k,v in f.items() if v['messages']}; sys.exit(0 if n=={'Old/Proj':3} else 1)"

# Refusals leave the target as it was.
echo wrong >"$T/wrong.pass"
push "imaps://alice@127.0.0.1:$TPORT" --password-file "$T/wrong.pass"
expect_rc 7 "push with a wrong password exits 7"
mvrun push "$arch" "imaps://alice@127.0.0.1:$TPORT" --identity "$id" --password-file "$TPASS"
expect_rc 8 "push to a server whose CA is unknown exits 8"
mvrun push "$arch" "maildir:$T/x" --identity "$id" --password-file "$TPASS"
expect_rc 2 "IMAP options with a local target are a usage error (t45 tests local targets)"
check "the refused local push wrote nothing" [ ! -e "$T/x" ]

# A push killed midway, then rerun, with push's record and without it:
# complete, no duplicates.
big=$T/bigsrc
"$PY" "$MV_TOP/tests/e2e/corpus.py" small "$big" --folders 2 --count 120 --size 40000 --seed 5 >/dev/null
dv_select "$SRC"
dv_load bob "$big" || fail "bob's source mailbox loads"
arch2=$T/b.mv
mvrun pull "imaps://bob@127.0.0.1:$SPORT" "$arch2" --identity "$id" --cacert "$SCA" --password-file "$DV_PASS_bob"
expect_rc 0 "pull of 120 messages exits 0"
rd "$SPORT" "$SCA" bob "$DV_PASS_bob" manifest >"$T/bs.json"
dv_select "$DST"
count() { "$PY" -c "import json,sys; print(sum(len(f['messages']) for f in json.load(open(sys.argv[1]))['folders'].values()))" "$1"; }
for mode in record no-state; do
	opt=
	[ $mode = no-state ] && opt=--no-state
	before=$(count "$T/b2.json")
	"$MV_TEST" --log-json push "$arch2" "imaps://bob@127.0.0.1:$TPORT" --identity "$id" --cacert "$TCA" \
		--password-file "$TPASSB" --batch 1 --map "INBOX=$mode/INBOX" --map "Folder1=$mode/F1" $opt \
		>"$T/k.out" 2>"$T/k.err" &
	bgp=$!
	# Killed as the second folder is created: the first is complete, the
	# second not begun or partly appended.
	i=0
	while [ $i -lt 500 ] && [ "$(grep -c 'creating' "$T/k.err" 2>/dev/null)" -lt 2 ]; do
		sleep 0.01; i=$((i + 1)); done
	# The target frozen first: the kill lands before the second folder
	# is complete however fast the push runs.
	dv_imapsig STOP
	kill -9 $bgp 2>/dev/null
	wait $bgp 2>/dev/null
	dv_imapsig CONT
	rd "$TPORT" "$TCA" bob "$TPASSB" manifest >"$T/bk.json"
	got=$(($(count "$T/bk.json") - before))
	check "($mode) the killed push left the target partly filled ($got of 120)" test "$got" -lt 120
	mvrun --log-json push "$arch2" "imaps://bob@127.0.0.1:$TPORT" --identity "$id" --cacert "$TCA" \
		--password-file "$TPASSB" --map "INBOX=$mode/INBOX" --map "Folder1=$mode/F1" $opt
	expect_rc 0 "($mode) the rerun of the killed push exits 0"
	rd "$TPORT" "$TCA" bob "$TPASSB" manifest >"$T/b2.json"
	check "($mode) after the rerun the target holds each of the 120 messages exactly once" \
		"$PY" -c "
import json, collections, sys
s = json.load(open('$T/bs.json'))['folders']; t = json.load(open('$T/b2.json'))['folders']
ok = True
for src, dst in (('INBOX', '$mode/INBOX'), ('Folder1', '$mode/F1')):
    a = collections.Counter((m['sha256'], tuple(m['flags'])) for m in s[src]['messages'].values())
    b = collections.Counter((m['sha256'], tuple(m['flags'])) for m in t.get(dst, {'messages': {}})['messages'].values())
    ok = ok and a == b
sys.exit(0 if ok else 1)"
done

# Dovecot drops a final bare CR on APPEND, so such a message is not found
# again by its exact bytes: push's record knows it (and, without the
# record, its rendering: t42-push-forms.sh).
mkdir -p "$T/cr/cur" "$T/cr/new" "$T/cr/tmp"
printf 'Subject: cr\r\n\r\nends in a bare CR\r' >"$T/cr/cur/1.cr.h:2,S"
mvrun pull "maildir:$T/cr" "$T/cr.mv" --identity "$id"
push_cr() { mvrun --log-json push "$T/cr.mv" "imaps://bob@127.0.0.1:$TPORT" --identity "$id" --cacert "$TCA" --password-file "$TPASSB" --map INBOX=CR "$@"; }
push_cr
expect_rc 0 "push of a message ending in a bare CR exits 0"
push_cr
expect_rc 0 "a second push of it exits 0"
check "the second push finds it through push's record and appends nothing" grep -q '"event":"done".*"appended":0,"present":1' "$T/err"


finish
