#!/bin/sh
# t30-hostile: `mbox-vault pull imaps://...` (the ASan + UBSan build)
# against tests/imap/fakeimap.py, a scripted IMAP server over TLS (its own
# CA) that misbehaves in one way per scenario at the FETCH of bodies:
# a literal size of ~100 GB and one over 2^64, a garbage line, the
# connection cut mid-literal (once, on a 9 MiB streamed body, and always),
# BYE (once and always), untagged noise, FETCH responses out of order, a
# FETCH response never sent, a NIL body, a literal longer than its
# RFC822.SIZE, a body item twice in one FETCH response, a FETCH response
# sent twice, a tag the client never sent, and throttling as Gmail
# ([THROTTLED] as a code, at the end of a NO, and on OK) and Microsoft 365
# ("BAD Request is throttled. Suggested Backoff Time: N milliseconds", on a
# FETCH and on EXAMINE) word it.
#
# Each block proves, for its behaviour: no crash, hang or sanitizer report;
# the documented exit code (0 when the pull can recover, 9 for a network or
# protocol failure it cannot get past, 10 when it finished but skipped a
# message -- and then the report names the UID); a message that says what
# went wrong; the archive never damaged (after a failed pull an existing
# archive still verifies with the key -- every record, signature and
# message -- and its version 1 lists exactly as before, with no new
# complete version; a new archive is either absent or verifies; the next
# pull from a sane server completes); recovered pulls hold every message
# byte for byte with flags and INTERNALDATE (tests/imap/cmparchive.py
# against fakeimap's own manifest, itself checked against Python's
# imaplib); throttled commands are sent again, after the suggested backoff
# (the server's log has the times).  Pulls run the ASan build ($MV_ASAN);
# reading archives back uses the faster test build ($MV_TEST).  Every
# mbox-vault run is killed after 45 s, so a hang fails instead of stalling.
# About a minute on an idle 2-core machine.

# A version manager's python3 shim can take a second to start, and this
# runs python often: the system's interpreter when there is one.
if [ -z "${PY:-}" ] && [ -x /usr/bin/python3 ]; then PY=/usr/bin/python3; fi
. "$(dirname "$0")/../e2e/lib.sh"
need_bin "$MV_ASAN" "$MV_TEST"
IMAP=$MV_TOP/tests/imap
FAKE=$IMAP/fakeimap.py

# Every pull and read goes through a timeout: a hang is a failure, not a
# stuck test run.
cat >"$T/mv" <<EOF
#!/bin/sh
exec timeout -k 5 45 "$MV_ASAN" "\$@"
EOF
chmod +x "$T/mv"
MV=$T/mv
# Reading the archives back (verify, log, ls, cat, also in cmparchive.py)
# uses the faster test build: the pull is what is under test here.
cat >"$T/mvr" <<EOF
#!/bin/sh
exec timeout -k 5 45 "$MV_TEST" "\$@"
EOF
chmod +x "$T/mvr"
MVR=$T/mvr
export MV
# rd ARGS...: mvrun with the reading binary.
rd() { mvrun_bin "$MVR" "$@"; }
# Test builds shorten reconnect backoffs with this; blocks that measure a
# throttling backoff unset it.
MV_TEST_BACKOFF_MS=20
export MV_TEST_BACKOFF_MS

srv_pid=
stop_server() {
	if [ -n "$srv_pid" ]; then
		kill "$srv_pid" 2>/dev/null
		wait "$srv_pid" 2>/dev/null
		srv_pid=
	fi
}
trap 'stop_server; cleanup' EXIT

"$PY" "$FAKE" certs "$T/certs" 2>"$T/certs.err" ||
	{ fail "fakeimap.py makes a CA and a server certificate ($(tail -3 "$T/certs.err" | tr '\n' ' '))"; finish; }
CA=$T/certs/ca.pem
(umask 077 && printf 'pw-%s\n' "$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')" >"$T/pass")
id=$T/owner.id
mvrun keygen --unprotected -o "$id"
expect_rc 0 "keygen for the test identity"

t_start=$(date +%s)
# block NAME: a heading with the time so far.
block() { echo "# $1 ($(($(date +%s) - t_start)) s)"; }

# start_server SCENARIO [MAILBOX]: a fresh fakeimap; sets PORT and SLOG.
nsrv=0
start_server() {
	stop_server
	nsrv=$((nsrv + 1))
	SLOG=$T/server.$nsrv.$1.log
	rm -f "$T/port"
	"$PY" "$FAKE" serve --scenario "$1" --mailbox "${2:-full}" --dir "$T/certs" \
		--password-file "$T/pass" --port-file "$T/port" --log "$SLOG" \
		--max-seconds 200 >/dev/null 2>"$T/server.$nsrv.err" &
	srv_pid=$!
	_i=0
	while [ ! -s "$T/port" ] && [ $_i -lt 100 ]; do sleep 0.05; _i=$((_i + 1)); done
	PORT=$(cat "$T/port" 2>/dev/null)
	[ -n "$PORT" ] || { fail "fakeimap ($1) starts ($(tail -3 "$T/server.$nsrv.err" | tr '\n' ' '))"; return 1; }
}
# pull LABEL ARCHIVE [OPTIONS]: against the running server, JSON log on
# stderr; a PASS line when it neither crashed nor hung nor made a
# sanitizer report.
pull() {
	_l=$1; _a=$2; shift 2
	if mvrun --log-json pull "imaps://alice@127.0.0.1:$PORT" "$_a" --identity "$id" \
		--cacert "$CA" --password-file "$T/pass" "$@"; then
		if [ "$rc" = 124 ]; then
			fail "$_l: the pull does not hang (killed after 45 s)"
		else
			pass "$_l: no crash, hang or sanitizer report (ASan + UBSan, leaks checked; exit $rc)"
		fi
	fi
}
# run SCENARIO MAILBOX ARCHIVE [OPTIONS]: server up, one pull, server down.
run() {
	_s=$1; _m=$2; shift 2
	start_server "$_s" "$_m" || { rc=-1; return 1; }
	pull "$_s ($(basename "$1"))" "$@"
	stop_server
}
# The messages of JSON events of one kind in $T/err, one per line.
events() {
	"$PY" -c '
import json, sys
for l in open(sys.argv[1], errors="replace"):
    if l.startswith("{"):
        try:
            e = json.loads(l)
        except ValueError:
            continue
        if e.get("event") == sys.argv[2]:
            print(e.get("message", ""))
' "$T/err" "$1"
}
manifest() { "$PY" "$FAKE" manifest "$@"; }
# cmpa MANIFEST ARCHIVE LABEL [--version N]: cmparchive.py, its PASS/FAIL
# lines counted here.
cmpa() {
	_man=$1; _arch=$2; _lab=$3; shift 3
	MV=$MVR "$PY" "$IMAP/cmparchive.py" "$_man" "$_arch" "$id" --label "$_lab" "$@" >"$T/cmp.out" 2>&1
	_crc=$?
	cat "$T/cmp.out"
	npass=$((npass + $(grep -c '^PASS: ' "$T/cmp.out")))
	nfail=$((nfail + $(grep -c '^FAIL: ' "$T/cmp.out")))
	if [ $_crc -ne 0 ] && ! grep -q '^FAIL: ' "$T/cmp.out"; then
		fail "$_lab: cmparchive.py ran ($(tail -3 "$T/cmp.out" | tr '\n' ' '))"
	fi
}
# Copies of one archive share its ID: each gets its own rollback state.
use_state() { XDG_STATE_HOME=$T/state/$1; export XDG_STATE_HOME; }

manifest --mailbox full >"$T/m.full.json"
manifest --mailbox base >"$T/m.base.json"
manifest --mailbox big >"$T/m.big.json"
manifest --mailbox full --omit INBOX/105 >"$T/m.no105.json"

# intact ARCHIVE LABEL [partial]: after a pull of an archive copied from
# base.mv: verify (with the key, so every message is decrypted and checked
# too) exits 0 and version 1 lists as it did (same entries, content IDs,
# flags, dates); after a failed pull (no third argument) it is still the
# newest complete version.
intact() {
	rd verify "$1" --identity "$id"
	expect_rc 0 "$2: the existing archive still verifies (every record, signature and message)"
	if [ -z "${3:-}" ]; then
		rd ls --json "$1" --identity "$id"
		check "$2: no new complete version, and version 1 lists exactly as before" cmp -s "$T/out" "$T/base.ls"
	else
		rd ls --json "$1" --identity "$id" --version 1
		check "$2: version 1 lists exactly as before" cmp -s "$T/out" "$T/base.ls"
	fi
}
# fresh_ok ARCHIVE LABEL: a new archive after a failed pull is absent or
# verifies.
fresh_ok() {
	if [ -e "$1" ]; then
		rd verify "$1"
		expect_rc 0 "$2: the archive the pull created verifies"
	else
		pass "$2: the failed pull left no archive behind (it had created it)"
	fi
}

# ---- the server itself: an independent client reads what it serves ----
start_server normal full && {
	"$PY" "$IMAP/imapread.py" manifest --body binary --port "$PORT" --ca "$CA" --user alice \
		--passfile "$T/pass" >"$T/m.imaplib.json" 2>"$T/imaplib.err"
	check "fakeimap speaks IMAP: Python's imaplib reads exactly the mailbox fakeimap describes (bytes, flags, INTERNALDATE, UIDVALIDITY)" \
		cmp -s "$T/m.imaplib.json" "$T/m.full.json"
	stop_server
}

# ---- normal: the baseline ----
block "normal"
run normal full "$T/normal.mv"
expect_rc 0 "normal: a pull from a well-behaved fakeimap exits 0"
check "normal: libcurl logged in with AUTHENTICATE PLAIN and SASL-IR, and the server's log holds no password" \
	sh -c "grep -q 'login user=alice ok (AUTHENTICATE PLAIN with SASL-IR)' '$SLOG' && ! grep -qF '$(cat "$T/pass")' '$SLOG'"
check "normal: read-only (EXAMINE and .PEEK only: no SELECT, STORE or non-PEEK body fetch)" \
	sh -c "grep -q 'C: m[0-9]* EXAMINE' '$SLOG' && ! grep -Eq 'C: m[0-9]* (SELECT|UID STORE|STORE)|BINARY\\[\\]|BODY\\[\\]' '$SLOG'"
cmpa "$T/m.full.json" "$T/normal.mv" "normal"
check "normal: the per-folder report counts the bytes the version holds (INBOX 2217, Work 46)" \
	"$PY" -c '
import json, sys
m = json.load(open(sys.argv[2]))
ev = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
f = {e["name"]: e for e in ev if e.get("event") == "folder"}
bad = []
for name, v in m["folders"].items():
    want = sum(x["size"] for x in v["messages"].values())
    if name not in f or f[name]["bytes"] != want or f[name]["messages"] != len(v["messages"]):
        bad.append("%s: reported %s" % (name, f.get(name)))
        print("  folder %s: want %d messages, %d bytes; report says %s" % (name, len(v["messages"]), want, f.get(name)))
sys.exit(1 if bad else 0)
' "$T/err" "$T/m.full.json"

# ---- the archive the failure scenarios start from ----
use_state base
run normal base "$T/base.mv"
expect_rc 0 "base: a first pull (INBOX 101 102, Work 1) makes the archive the failure scenarios start from"
cmpa "$T/m.base.json" "$T/base.mv" "base"
rd ls --json "$T/base.mv" --identity "$id"
cp "$T/out" "$T/base.ls"

# fail_both SCENARIO LABEL [partial]: the scenario against a new archive
# and against a copy of base.mv (see intact for "partial"); leaves the
# copy's pull in $T/err and $rc, and also $exrc, $T/ex.err, $newrc and
# $T/new.err.
fail_both() {
	use_state "new-$1"
	run "$1" full "$T/new-$1.mv"
	newrc=$rc
	cp "$T/err" "$T/new.err"
	fresh_ok "$T/new-$1.mv" "$2 (new archive)"
	use_state "ex-$1"
	cp "$T/base.mv" "$T/ex-$1.mv"
	run "$1" full "$T/ex-$1.mv"
	exrc=$rc
	cp "$T/err" "$T/ex.err"
	intact "$T/ex-$1.mv" "$2 (existing archive)" ${3:-}
	rc=$exrc
	cp "$T/ex.err" "$T/err"
}
# want_rc WANT LABEL: the exit code of both pulls of fail_both.
want_rc() {
	rc=$newrc; cp "$T/new.err" "$T/err"
	expect_rc "$1" "$2 (new archive)"
	rc=$exrc; cp "$T/ex.err" "$T/err"
	expect_rc "$1" "$2 (existing archive)"
}

# ---- huge literal sizes ----
for sc in huge-literal huge-literal-u64; do
	block "$sc"
	if [ $sc = huge-literal ]; then
		fail_both $sc "$sc"
	else
		# The same path as above: a new archive is enough.
		use_state $sc
		run $sc full "$T/new-$sc.mv"
		newrc=$rc
		cp "$T/err" "$T/new.err"
		fresh_ok "$T/new-$sc.mv" "$sc (new archive)"
	fi
	# A protocol failure (9), or the message skipped and named (10).
	size=99999999999
	[ $sc = huge-literal ] || size="over 2^64"
	whiches="new ex"
	[ $sc = huge-literal ] || whiches=new
	for which in $whiches; do
		eval "_rc=\$${which}rc"
		wl="new archive"
		[ $which = new ] || wl="existing archive"
		if [ "$_rc" = 10 ] && grep -q 'UID 105' "$T/$which.err"; then
			pass "$sc ($wl): UID 105, announced at $size bytes, is skipped and named (exit 10)"
		else
			rc=$_rc
			cp "$T/$which.err" "$T/err"
			expect_rc 9 "$sc ($wl): a body literal announced at $size bytes is a protocol failure (exit 9), refused before anything is allocated"
		fi
	done
	check "$sc: the message says a literal's size is over a limit" grep -qi 'literal.*\(limit\|over\)' "$T/new.err"
done

# ---- garbage ----
block "garbage"
fail_both garbage "garbage"
want_rc 9 "garbage: a line of binary junk instead of a FETCH response is a protocol failure (exit 9)"
check "garbage: the message says the server's response is not IMAP" grep -qi 'imap response' "$T/new.err"

# ---- disconnect mid-literal ----
block "disconnect-once"
use_state disc-once
run disconnect-once big "$T/disc-once.mv"
expect_rc 0 "disconnect-once: cut half-way through a 9 MiB streamed literal, the pull reconnects and completes (exit 0)"
check "disconnect-once: the reconnect is reported, naming the cut" sh -c "grep -q '\"event\":\"reconnect\".*cut' '$T/err'"
check "disconnect-once: the server saw a second login" test "$(grep -c 'login user=alice ok' "$SLOG")" -ge 2
cmpa "$T/m.big.json" "$T/disc-once.mv" "disconnect-once (the half-received 9 MiB body was dropped, then stored whole)"
rd verify "$T/disc-once.mv" --identity "$id"
expect_rc 0 "disconnect-once: keyed verify (every message decrypted and checked) exits 0"
use_state disc-once-ex
cp "$T/base.mv" "$T/disc-once-ex.mv"
run disconnect-once full "$T/disc-once-ex.mv"
expect_rc 0 "disconnect-once (existing archive): the incremental pull reconnects and completes (exit 0)"
cmpa "$T/m.full.json" "$T/disc-once-ex.mv" "disconnect-once (existing archive), new version"
rd ls --json "$T/disc-once-ex.mv" --identity "$id" --version 1
check "disconnect-once (existing archive): version 1 lists exactly as before" cmp -s "$T/out" "$T/base.ls"

block "disconnect-always"
fail_both disconnect-always "disconnect-always"
want_rc 9 "disconnect-always: a connection cut mid-literal every time ends in a network failure (exit 9)"
check "disconnect-always: it tried reconnecting before giving up ($(events reconnect | wc -l | tr -d ' ') reconnects)" \
	test "$(events reconnect | wc -l)" -ge 1
check "disconnect-always: the final message says the connection was cut" grep -q '"event":"error".*cut' "$T/err"
use_state ex-disconnect-always
run normal full "$T/ex-disconnect-always.mv"
expect_rc 0 "disconnect-always (existing archive): the next pull, from a well-behaved server, completes (exit 0)"
cmpa "$T/m.full.json" "$T/ex-disconnect-always.mv" "disconnect-always (existing archive), after the next pull"

# ---- BYE ----
block "bye-once"
use_state bye-once
run bye-once full "$T/bye-once.mv"
expect_rc 0 "bye-once: after an untagged BYE and a close, the pull reconnects and completes (exit 0)"
check "bye-once: the reconnect note quotes the server's BYE text" sh -c "grep -q '\"event\":\"reconnect\".*server shutting down for maintenance' '$T/err'"
cmpa "$T/m.full.json" "$T/bye-once.mv" "bye-once"

block "bye-always"
fail_both bye-always "bye-always"
want_rc 9 "bye-always: a server that always says BYE ends in a network failure (exit 9)"
check "bye-always: the final message quotes the BYE text" grep -q '"event":"error".*server shutting down for maintenance' "$T/err"

# ---- untagged noise ----
block "noise"
use_state noise
run noise full "$T/noise.mv"
expect_rc 0 "noise: EXISTS, RECENT, [ALERT], an unsolicited FETCH (FLAGS), XAPPLEPUSHSERVICE and a literal in an unknown response around every FETCH: exit 0"
cmpa "$T/m.full.json" "$T/noise.mv" "noise (no flag taken from the unsolicited FETCH)"

# ---- out of order ----
block "out-of-order"
use_state ooo
run out-of-order full "$T/ooo.mv" --batch 3
expect_rc 0 "out-of-order: FETCH responses in reverse UID order, two commands pipelined: exit 0"
check "out-of-order: the server did answer out of order" grep -q 'X: answering UIDs \[103, 102, 101\]' "$SLOG"
cmpa "$T/m.full.json" "$T/ooo.mv" "out-of-order (every body under its own UID)"

# ---- a body item twice, a FETCH response twice ----
block "double-body"
use_state dbl
run double-body full "$T/dbl.mv"
expect_rc 0 "double-body: a FETCH response holding its body item twice is stored once (exit 0)"
cmpa "$T/m.full.json" "$T/dbl.mv" "double-body"
block "duplicate-fetch"
use_state dup
run duplicate-fetch full "$T/dup.mv"
expect_rc 0 "duplicate-fetch: the same FETCH response sent twice is stored once (exit 0)"
cmpa "$T/m.full.json" "$T/dup.mv" "duplicate-fetch (UID 105 once)"

# ---- a FETCH response never sent ----
block "missing"
fail_both missing "missing" partial
want_rc 10 "missing: a UID the server never answers for makes the pull partial (exit 10)"
check "missing: the report names the folder and UID 105 as skipped" \
	sh -c "grep -q '\"event\":\"skipped\".*INBOX.*UID 105' '$T/new.err' && grep -q '\"event\":\"skipped\".*INBOX.*UID 105' '$T/ex.err'"
check "missing: UID 105 was asked for again before it was given up ($("$PY" "$FAKE" asked "$SLOG" 105) FETCH commands)" \
	test "$("$PY" "$FAKE" asked "$SLOG" 105)" -ge 2
cmpa "$T/m.no105.json" "$T/new-missing.mv" "missing (new archive): everything but UID 105"
cmpa "$T/m.no105.json" "$T/ex-missing.mv" "missing (existing archive): the new version, everything but UID 105"

# ---- NIL body ----
block "nil-body"
use_state nil
run nil-body full "$T/nil.mv"
expect_rc 10 "nil-body: a NIL body makes the pull partial (exit 10)"
check "nil-body: the report names UID 105 and says its body was NIL" grep -q '"event":"skipped".*UID 105.*NIL' "$T/err"
cmpa "$T/m.no105.json" "$T/nil.mv" "nil-body: everything but UID 105"

# ---- throttling ----
for sc in gmail-throttle gmail-throttle-tail m365-throttle m365-throttle-examine; do
	block "$sc"
	use_state $sc
	case $sc in
	gmail-throttle) what='NO [THROTTLED] on a FETCH' ;;
	gmail-throttle-tail) what='NO ... [THROTTLED] (at the end of the text) on a FETCH' ;;
	m365-throttle) what='BAD Request is throttled. Suggested Backoff Time: 200 milliseconds on a FETCH' ;;
	*) what='BAD Request is throttled. Suggested Backoff Time: 200 milliseconds on EXAMINE' ;;
	esac
	# The real backoff, so that it can be measured.
	unset MV_TEST_BACKOFF_MS
	run $sc full "$T/$sc.mv" --batch 2
	MV_TEST_BACKOFF_MS=20
	export MV_TEST_BACKOFF_MS
	expect_rc 0 "$sc: $what slows the pull down instead of failing it (exit 0)"
	note=$(events throttled | head -1)
	check "$sc: the client says it was throttled ($note)" test -n "$note"
	if gap=$("$PY" "$FAKE" retried "$SLOG"); then
		pass "$sc: the server's log shows the throttled command sent again ($gap)"
	else
		fail "$sc: the server's log shows the throttled command sent again ($gap)"
		gap=0
	fi
	case $sc in
	m365*) check "$sc: the retry came after the suggested 200 ms (${gap%% *} ms)" test "${gap%% *}" -ge 190 ;;
	*) check "$sc: the client waited before the retry (${gap%% *} ms)" test "${gap%% *}" -ge 100 ;;
	esac
	cmpa "$T/m.full.json" "$T/$sc.mv" "$sc"
done

block "gmail-ok-throttled"
use_state gok
run gmail-ok-throttled full "$T/gok.mv"
expect_rc 0 "gmail-ok-throttled: OK Success [THROTTLED] (Gmail's slowed-down success) is a success (exit 0)"
cmpa "$T/m.full.json" "$T/gok.mv" "gmail-ok-throttled"

# ---- literal longer than RFC822.SIZE ----
block "oversize"
use_state over
run oversize full "$T/over.mv"
expect_rc 0 "oversize: a body literal 40 bytes longer than its RFC822.SIZE is stored (exit 0)"
check "oversize: a warning names UID 105 and both sizes" grep -q '"event":"warning".*UID 105.*2020.*1980' "$T/err"
cmpa "$T/m.full.json" "$T/over.mv" "oversize (the bytes served are the ones kept)"

# ---- a tag never sent ----
block "bad-tag"
use_state badtag
run bad-tag full "$T/badtag.mv"
expect_rc 0 "bad-tag: an answer tagged zz999 (never sent) drops the connection, and the pull reconnects and completes (exit 0)"
check "bad-tag: the note names the stray tag" grep -q "\"event\":\"reconnect\".*tag 'zz999'" "$T/err"
cmpa "$T/m.full.json" "$T/badtag.mv" "bad-tag"
rd verify "$T/badtag.mv" --identity "$id"
expect_rc 0 "bad-tag: keyed verify exits 0"

block "end"
finish
