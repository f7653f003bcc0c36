#!/bin/sh
# t41-push-faults: push against a real Dovecot that fails it, checked with
# an independent client (imaplib, tests/imap/imapread.py):
#  - the target is killed in the middle of a MULTIAPPEND batch and started
#    again: the same push reconnects, finds what the target holds, and
#    finishes (exit 0) with every message exactly once;
#  - `doveadm kick` ends the session mid-push (the server stays up): the
#    same push reconnects and finishes, no duplicates;
#  - the answer to a MULTIAPPEND the target carried out is lost with the
#    connection (tests/imap/cutproxy.py): the same push reconnects, finds
#    the batch stored (by content: the APPENDUID never came) and appends
#    none of it again;
#  - the target stays down: push gives up after its reconnection attempts
#    with the network exit code (9) and says so; a rerun completes, no
#    duplicates;
#  - a keyword Dovecot refuses (longer than its 50 bytes): the batch falls
#    back to single appends, the message arrives without that keyword (and
#    with its others), a later message carrying it goes without it at once,
#    the rest intact; a message with two refused keywords arrives without
#    any; the report names each keyword and message; exit 10;
#  - messages over the quota's per-message limit (quota plugin,
#    quota_max_mail_size): each is reported (folder, UID, size, the
#    server's words), the others appended, exit 10; a rerun after raising
#    the limit completes without duplicates.
. "$(dirname "$0")/../e2e/lib.sh"
need_bin "$MV_ASAN"
IMAP=$MV_TOP/tests/imap
. "$IMAP/dovecot.sh"
trap 'dv_stop_all >/dev/null 2>&1; cleanup' EXIT
# dovecot.sh's interpreter: a version manager's python3 shim can take
# seconds to start, and the watcher below must start at once.
PY=$DV_PYTHON

rd() { _u=$1 _f=$2; shift 2; "$PY" "$IMAP/imapread.py" "$@" --port "$TPORT" --ca "$TCA" --user "$_u" --passfile "$_f"; }

# The source: two folders of 60 text messages (20 kB; text, as Dovecot
# keeps every byte of those) in a real Dovecot, read by imaplib for the
# comparisons.
"$PY" - "$T/corpus" <<'EOF'
import os, random, sys
rng = random.Random(7)
for i in range(120):
    d = os.path.join(sys.argv[1], ".Folder1" if i % 2 else "")
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    words = " ".join(rng.choice(["alpha", "beta", "gamma", "mail", "vault"]) for _ in range(3300))
    body = b"Subject: m%d\r\n\r\n%s\r\n" % (i, words.encode())
    p = os.path.join(d, "cur", "%d.m%d.h:2,%s" % (1700000000 + i, i, "S" if i % 3 else ""))
    open(p, "wb").write(body)
    os.utime(p, (1700001000 + i, 1700001000 + i))
EOF
dv_start src || { fail "the source Dovecot starts"; finish; }
dv_load alice "$T/corpus" || fail "the source mailbox loads"
SPORT=$DV_PORT_IMAPS SCA=$DV_CA SPASS=$DV_PASS_alice
DV_USERS="alice bob carol dave"
DV_SEPARATOR=. dv_start dst || { fail "the target Dovecot starts"; finish; }
DST=$DV_DIR TPORT=$DV_PORT_IMAPS TCA=$DV_CA TPASS=$DV_PASS_alice TPASSB=$DV_PASS_bob
TPASSC=$DV_DIR/secrets/pass.carol TPASSD=$DV_DIR/secrets/pass.dave
id=$T/owner.id
mvrun keygen --unprotected -o "$id"
arch=$T/a.mv
mvrun pull "imaps://alice@127.0.0.1:$SPORT" "$arch" --identity "$id" --cacert "$SCA" --password-file "$SPASS"
expect_rc 0 "pull of 120 messages from the source exits 0"
"$PY" "$IMAP/imapread.py" manifest --port "$SPORT" --ca "$SCA" --user alice --passfile "$SPASS" >"$T/src.json"

# freeze USER: once the target's INBOX of USER is receiving a MULTIAPPEND
# (Dovecot writes each message to tmp/ and moves the batch into the
# folder when it completes), stops the target's imap processes so that
# the kill or kick that follows lands inside the batch.  thaw lets them
# go on (e.g. to act on a kick's SIGTERM).
freeze() { dv_imapsig STOP "$DST/mail/$1"; }
thaw() { dv_imapsig CONT; }
# bgpush BACKOFF_MS OUT USER PASSFILE ARGS...: push in the background (the
# ASan binary), waiting BACKOFF_MS between reconnection attempts; bgwait
# OUT: its exit status in $rc, stderr in $T/err, no sanitizer report.
bgpush() {
	_b=$1 _o=$2 _u=$3 _p=$4; shift 4
	MV_TEST_BACKOFF_MS=$_b "$MV" --log-json push "$arch" "imaps://$_u@127.0.0.1:${PPORT:-$TPORT}" --identity "$id" --cacert "$TCA" \
		--password-file "$_p" "$@" >"$T/$_o.out" 2>"$T/$_o.err" </dev/null &
	bgp=$!
}
bgwait() {
	wait "$bgp"
	rc=$?
	cp "$T/$1.err" "$T/err"
	no_crash "push ($1)"
}
same() { # LABEL DST.json: the target holds what the source held, no more
	"$PY" "$IMAP/cmpservers.py" "$T/src.json" "$2" "$1" || nfail=$((nfail + 1))
}

# 1. The target is killed inside a batch and comes back.
bgpush 500 kill alice "$TPASS" --batch 10
if freeze alice; then
	dv_kill
	dv_restart || fail "the target Dovecot starts again"
	pass "the target was killed in the middle of a MULTIAPPEND batch and restarted"
else
	fail "the push reached the target's INBOX within 30 s"
	dv_kill; dv_restart
fi
bgwait kill
expect_rc 0 "the push the target dropped midway finishes in the same run (exit 0)"
check "it said it lost the connection and reconnected" grep -q '"event":"reconnect"' "$T/err"
check "it said how much of the interrupted batch the target had stored and appends the rest" \
	grep -q "folder 'INBOX': the lost connection interrupted the append of [0-9]* messages; the target had stored [0-9]* of them" "$T/err"
rd alice "$TPASS" manifest >"$T/d1.json"
same "after the drop the target holds the 120 messages of the source exactly once (no duplicates, none missing)" "$T/d1.json"

# 2. The session is kicked out (the server stays up).
bgpush 100 kick dave "$TPASSD" --batch 10
# Frozen first: a push of 120 small messages left running can finish
# before doveadm has started (it did once in CI), leaving nothing to kick.
freeze dave || fail "the push reached dave's INBOX within 30 s"
dv_doveadm kick dave >/dev/null 2>&1 || fail "doveadm kick dave"
thaw
bgwait kick
expect_rc 0 "the push kicked out by doveadm kick finishes in the same run (exit 0)"
check "it reconnected" grep -q '"event":"reconnect"' "$T/err"
rd dave "$TPASSD" manifest >"$T/d4.json"
same "after the kick the target holds the 120 messages exactly once" "$T/d4.json"

# 3. The target stores a batch, but its answer is lost with the connection:
# the relay cuts the first connection at the first answer after 100 kB of
# upload (half-way through the first batch of 10 messages of 20 kB).
"$PY" "$IMAP/cutproxy.py" "$T/proxy.port" "$TPORT" 100000 "$T/proxy.log" &
proxy=$!
i=0
while [ ! -s "$T/proxy.port" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
PPORT=$(cat "$T/proxy.port")
bgpush 100 lost carol "$TPASSC" --batch 10
bgwait lost
PPORT=
kill "$proxy" 2>/dev/null
wait "$proxy" 2>/dev/null
check "the relay cut the connection at the answer to the first batch" grep -q '^cut: ' "$T/proxy.log"
expect_rc 0 "the push whose batch answer was lost finishes in the same run (exit 0)"
check "it found the 10 messages of the unanswered batch stored and appended none of them again" \
	grep -q "folder 'Folder1': the lost connection interrupted the append of 10 messages; the target had stored 10 of them, 0 are appended again" "$T/err"
rd carol "$TPASSC" manifest >"$T/d3.json"
same "after the lost answer the target holds the 120 messages exactly once" "$T/d3.json"

# 4. The target stays down past the reconnection attempts.
bgpush 20 down bob "$TPASSB" --batch 10
freeze bob || fail "the push reached bob's INBOX within 30 s"
dv_kill
bgwait down
expect_rc 9 "with the target down for good, push exits 9 (network) after its attempts"
check "it says the connection was lost and reconnecting failed" \
	grep -q 'the connection to the target was lost and 8 attempts to reconnect failed' "$T/err"
check "it made 8 attempts" test "$(grep -c '"event":"reconnect"' "$T/err")" -eq 8
dv_restart || fail "the target Dovecot starts again"
mvrun --log-json push "$arch" "imaps://bob@127.0.0.1:$TPORT" --identity "$id" --cacert "$TCA" --password-file "$TPASSB"
expect_rc 0 "the rerun once the target is back exits 0"
check "the rerun found the messages the first run had stored" grep -q '"event":"done".*"present":[1-9]' "$T/err"
rd bob "$TPASSB" manifest >"$T/d2.json"
same "after the rerun bob's account holds the 120 messages exactly once" "$T/d2.json"

# 5. Keywords the target refuses.  Dovecot allows 50 bytes
# (mail_max_keyword_length); the archive holds keywords of 200, 51 and 60
# bytes, learnt from a Maildir.  Message 3 carries Work and the long one,
# message 5 the long one, message 7 Work and the 51 and 60-byte ones.
long=k$(printf '%0199d' 0 | tr 0 x)
kd=$T/kw
mkdir -p "$kd/cur" "$kd/new" "$kd/tmp"
printf '0 Work\n1 %s\n2 %s\n3 %s\n' "$long" "$(echo "$long" | cut -c1-51)" \
	"$(echo "$long" | cut -c1-60)" >"$kd/dovecot-keywords"
for i in 1 2 3 4 5 6 7; do
	case $i in 2|6) fl=Sa ;; 3) fl=Sab ;; 5) fl=b ;; 7) fl=acd ;; *) fl=S ;; esac
	printf 'Subject: kw %s\r\n\r\nmessage %s\r\n' $i $i >"$kd/cur/100000000$i.k$i.h:2,$fl"
done
touch -d '2024-03-04 05:06:07 UTC' "$kd"/cur/*
mvrun pull "maildir:$kd" "$T/kw.mv" --identity "$id"
expect_rc 0 "pull of a Maildir with a 200-byte keyword exits 0"
mvrun --log-json push "$T/kw.mv" "imaps://alice@127.0.0.1:$TPORT" --identity "$id" --cacert "$TCA" \
	--password-file "$TPASS" --map INBOX=KW
expect_rc 10 "push with a keyword the target refuses exits 10 (partial)"
check "the refused batch is reported with Dovecot's words (NO [CANNOT] Keyword length too long)" \
	grep -q 'a batch of 7 was refused (the server answered NO \[CANNOT\]: Keyword length too long' "$T/err"
check "the 200-byte keyword is reported dropped twice (messages 3 and 5), naming the folder, the message's UID and the keyword" \
	test "$(grep '"event":"dropped"' "$T/err" | grep -c "folder 'INBOX' UID [0-9]*: appended without keyword '$(echo "$long" | cut -c1-60)\.\.\. (200 bytes)', which the target refuses (the server answered NO \[CANNOT\]: Keyword length too long")" -eq 2
check "message 7's three keywords are reported dropped (two refused ones leave no single culprit)" \
	test "$(grep '"event":"dropped"' "$T/err" | grep -c "folder 'INBOX' UID [0-9]*: appended without keyword '[^']*': the target refused the message with its keywords (the server answered NO \[CANNOT\]")" -eq 3
check "the JSON summary counts 5 dropped keywords, nothing refused" \
	grep -q '"event":"done".*"appended":7,"present":0,"refused":0,"dropped_keywords":5' "$T/err"
rd alice "$TPASS" manifest >"$T/kw.json"
check "the target holds the 7 messages byte for byte, message 3 with \\Seen and Work but not the long keyword, 5 and 7 without keywords, the others with their flags" \
	"$PY" - "$T/kw.json" "$kd/cur" <<'EOF'
import hashlib, os, sys
f = __import__("json").load(open(sys.argv[1]))["folders"].get("KW", {"messages": {}})["messages"]
got = sorted((m["sha256"], tuple(m["flags"])) for m in f.values())
want = {"1": ("\\Seen",), "2": ("Work", "\\Seen"), "3": ("Work", "\\Seen"), "4": ("\\Seen",),
        "5": (), "6": ("Work", "\\Seen"), "7": ()}
exp = []
for n in os.listdir(sys.argv[2]):
    i = n.split(".")[1][1:]
    exp.append((hashlib.sha256(open(os.path.join(sys.argv[2], n), "rb").read()).hexdigest(), want[i]))
sys.exit(0 if got == sorted(exp) else 1)
EOF
mvrun --log-json push "$T/kw.mv" "imaps://alice@127.0.0.1:$TPORT" --identity "$id" --cacert "$TCA" \
	--password-file "$TPASS" --map INBOX=KW
check "a second push of it appends nothing (exit 0)" \
	sh -c "[ $rc -eq 0 ] && grep -q '\"event\":\"done\".*\"appended\":0,\"present\":7' '$T/err'"

# 6. Messages over the target's per-message limit.
qd=$T/q
mkdir -p "$qd/cur" "$qd/new" "$qd/tmp"
printf '0 Big\n' >"$qd/dovecot-keywords"
for i in 1 2 3 4 5 6 7 8; do
	case $i in 3|5|8) n=30000 fl=Sa ;; *) n=200 fl=S ;; esac
	{ printf 'Subject: q %s\r\n\r\n' $i; printf "%0${n}d\r\n" $i; } >"$qd/cur/100000000$i.q$i.h:2,$fl"
done
touch -d '2024-03-04 05:06:07 UTC' "$qd"/cur/*
mvrun pull "maildir:$qd" "$T/q.mv" --identity "$id"
expect_rc 0 "pull of a Maildir with 3 messages of 30 kB exits 0"
dv_quota "max_mail_size=20k" || fail "the target restarts with quota_max_mail_size = 20k"
qpush() { mvrun --log-json push "$T/q.mv" "imaps://bob@127.0.0.1:$TPORT" --identity "$id" --cacert "$TCA" --password-file "$TPASSB" --map INBOX=Q; }
qpush
expect_rc 10 "push of messages over the quota's size limit exits 10 (partial)"
check "each of the 3 is reported refused with its folder, UID, size and Dovecot's words" \
	test "$(grep '"event":"refused"' "$T/err" | grep -c "folder 'INBOX' UID [0-9]* (30018 bytes): the server answered NO \[LIMIT\]: Mail size is larger than the maximum size allowed by server configuration")" -eq 3
check "a refusal for size is not retried without keywords (no keyword reported dropped)" \
	sh -c "! grep -q '\"event\":\"dropped\"' '$T/err'"
check "the JSON summary: 5 appended, 3 refused" grep -q '"event":"done".*"appended":5,"present":0,"refused":3' "$T/err"
rd bob "$TPASSB" manifest >"$T/q1.json"
# qcount MANIFEST: messages in Q, distinct ones, ones over 20 kB.
qcount() { "$PY" -c "import json,sys; m=json.load(open(sys.argv[1]))['folders'].get('Q',{'messages':{}})['messages'].values(); print(len(m), len({x['sha256'] for x in m}), len([x for x in m if x['size'] > 20480]))" "$1"; }
check "the target holds the 5 small messages only" test "$(qcount "$T/q1.json")" = "5 5 0"
dv_quota "max_mail_size=10M" || fail "the target restarts with the limit raised"
qpush
expect_rc 0 "the rerun after raising the limit exits 0"
check "it appends the 3 and finds the 5" grep -q '"event":"done".*"appended":3,"present":5,"refused":0' "$T/err"
rd bob "$TPASSB" manifest >"$T/q2.json"
check "the target now holds the 8 messages exactly once" test "$(qcount "$T/q2.json")" = "8 8 3"

finish
