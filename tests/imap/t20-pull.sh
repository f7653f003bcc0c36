#!/bin/sh
# t20-pull: `mbox-vault pull imaps://...` against a real Dovecot started
# here (own config in a temp dir, 127.0.0.1, a CA made for it), checked
# against an independent client (Python's imaplib, tests/imap/imapread.py):
# full pull message by message (bytes incl. NUL and bare LF, flags,
# keywords, INTERNALDATE, nested and non-ASCII folders, special-use);
# read-only (flags and HIGHESTMODSEQ unchanged); incremental pull after
# adding, flagging and expunging; a no-op pull fetches nothing; UIDVALIDITY
# reset refetches but stores nothing twice; wrong password, unknown CA,
# wrong pin and plaintext refused each give their exit code and leave the
# archive as it was; STARTTLS and pin-only trust work; the server killed
# mid-pull and restarted; the client killed mid-pull and rerun fetches
# nothing its partial checkpoint holds; no password in any output.
. "$(dirname "$0")/../e2e/lib.sh"
need_bin "$MV_ASAN" "$MV_TEST"
IMAP=$MV_TOP/tests/imap
# Dovecot's unprivileged processes must reach its directory: it lives under
# /tmp, not under the test's private $T.
. "$IMAP/dovecot.sh"
trap 'dv_stop_all >/dev/null 2>&1; cleanup' EXIT

dv_start src || { fail "dovecot starts"; finish; }
pass "a throwaway Dovecot runs on 127.0.0.1:$DV_PORT_IMAPS (imaps) and :$DV_PORT_IMAP (STARTTLS)"
PASSF=$DV_PASS_alice
URL="imaps://alice@127.0.0.1:$DV_PORT_IMAPS"
rd() { "$PY" "$IMAP/imapread.py" "$@" --port "$DV_PORT_IMAPS" --ca "$DV_CA" --user alice --passfile "$PASSF"; }

# ---- the mailbox ----
md=$T/src
mk() { mkdir -p "$md/$1/cur" "$md/$1/new" "$md/$1/tmp"; }
mk .; mk .Work; mk .Work.Projects; mk ".Fran&AOc-ais"; mk .Sent; mk .Big
printf '0 $Forwarded\n1 Work\n2 $Label1\n' >"$md/dovecot-keywords"
printf 'Subject: crlf\r\nFrom: a@example.org\r\n\r\nline one\r\nline two\r\n' >"$md/cur/1000000001.m1.host:2,S"
printf 'Subject: bare lf\nFrom: b@example.org\n\nbare\nlf\n' >"$md/cur/1000000002.m2.host:2,FSab"
printf 'Subject: nul\r\n\r\nbefore\000after\r\n' >"$md/cur/1000000003.m3.host:2,"
printf 'Subject: 8bit\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\303\251t\303\251 \342\202\254\r\n' >"$md/new/1000000004.m4.host"
printf 'Subject: answered draft\r\n\r\nx\r\n' >"$md/cur/1000000005.m5.host:2,DRc"
for i in 1 2 3; do
	printf 'Subject: project %s\r\n\r\nbody %s\r\n' "$i" "$i" >"$md/.Work.Projects/cur/100000001$i.p$i.host:2,S"
done
printf 'Subject: work\r\n\r\nw\r\n' >"$md/.Work/cur/1000000020.w.host:2,"
printf 'Subject: fr 1\r\n\r\nbonjour\r\n' >"$md/.Fran&AOc-ais/cur/1000000030.f1.host:2,S"
printf 'Subject: fr 2\r\n\r\nsalut\r\n' >"$md/.Fran&AOc-ais/cur/1000000031.f2.host:2,T"
printf 'Subject: sent\r\n\r\ns\r\n' >"$md/.Sent/cur/1000000040.s.host:2,S"
# A 10 MB message: over the size that is held whole, so it streams.
"$PY" - "$md/.Big/cur/1000000050.big.host:2,S" <<'EOF'
import base64, random, sys
r = random.Random(7)
with open(sys.argv[1], "wb") as f:
    f.write(b"Subject: big\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n")
    raw = bytes(r.getrandbits(8) for _ in range(7_600_000))
    b = base64.encodebytes(raw).replace(b"\n", b"\r\n")
    f.write(b)
EOF
find "$md" -type f -name '1*' -exec touch -d '2024-02-03 04:05:06 UTC' {} +
touch -d '2023-01-01 00:00:00 UTC' "$md/cur/1000000001.m1.host:2,S"
dv_load alice "$md" || { fail "the mailbox loads into Dovecot"; finish; }

id=$T/owner.id
mvrun keygen --unprotected -o "$id"
arch=$T/a.mv
pull() { mvrun --log-json pull "$@" --identity "$id" --cacert "$DV_CA" --password-file "$PASSF"; }
sum() { sha256sum "$arch" 2>/dev/null | cut -c1-64; }

# ---- full pull, read-only ----
rd manifest >"$T/m0.json" || fail "imapread reads the source"
pull "$URL" "$arch"
expect_rc 0 "full pull over imaps exits 0"
rd manifest >"$T/m1.json"
check "the pull changed nothing on the server (flags, HIGHESTMODSEQ, UIDs: imaplib before and after)" cmp -s "$T/m0.json" "$T/m1.json"
"$PY" "$IMAP/cmparchive.py" "$T/m1.json" "$arch" "$id" --label "full pull" || true
check "Dovecot offers BINARY and the NUL byte survives (the reader above restores NULs from BINARY[] as documented)" \
	grep -q '"body": "BODY.PEEK\[\] BINARY.PEEK\[\]"' "$T/m1.json"
mvrun cat "$arch" INBOX/3 --identity "$id"
check "the message with a NUL byte comes back with its NUL (not Dovecot's 0x80)" \
	"$PY" -c "import sys; d=open('$T/out','rb').read(); sys.exit(0 if b'before\\x00after' in d else 1)"
mvrun verify "$arch"
expect_rc 0 "keyless verify of the pulled archive exits 0"
mvrun ls --json "$arch" --identity "$id"
check "the version records the TLS facts and the body form (signed, in its info)" \
	grep -q 'tls-version=TLSv1\.[23].*tls-cipher=.*tls-verified=1.*cert-sha256=[0-9a-f]\{64\}.*spki-pin=sha256//.*body=BODY.PEEK\[\] (BINARY' "$T/out"
check "special-use \\Sent is recorded for folder Sent" grep -q '"folder":"Sent".*"special":32' "$T/out"

# ---- folder selection ----
pull "$URL" "$T/sel.mv" --folder 'Work*' --folder 'Fran%' --exclude 'Work/Projects'
expect_rc 0 "a pull with --folder and --exclude exits 0"
mvrun ls --json "$T/sel.mv" --identity "$id"
check "--folder 'Work*' --folder 'Fran%' --exclude 'Work/Projects' pulls exactly Work and Français" \
	"$PY" -c "import json,sys; f=sorted(json.loads(l)['folder'] for l in open('$T/out') if '\"uidvalidity\"' in l); sys.exit(0 if f==['Français','Work'] else 1)"

# ---- incremental ----
printf 'Subject: new one\r\n\r\nnew\r\n' >"$T/new1.eml"
printf 'Subject: new two\r\n\r\nnew 2\r\n' >"$T/new2.eml"
rd append INBOX "$T/new1.eml" '(\Seen $Label1)' '05-Mar-2025 06:07:08 +0100' &&
rd append "Work/Projects" "$T/new2.eml" '()' '06-Mar-2025 00:00:00 +0000' &&
rd store INBOX 1 +FLAGS '(\Flagged $Work2)' &&
rd expunge "Français" 2 || fail "imaplib changes the source"
rd manifest >"$T/m2.json"
pull "$URL" "$arch"
expect_rc 0 "incremental pull exits 0"
"$PY" "$IMAP/cmparchive.py" "$T/m2.json" "$arch" "$id" --label "incremental pull" || true
check "the incremental pull fetched exactly the 2 new bodies" \
	"$PY" -c "import json,sys; ev=[json.loads(l) for l in open('$T/err') if l.startswith('{')]; f=[e for e in ev if e.get('event')=='folder']; sys.exit(0 if sum(e['fetched'] for e in f)==2 else 1)"
check "the expunged message is reported gone" \
	"$PY" -c "import json,sys; ev=[json.loads(l) for l in open('$T/err') if l.startswith('{')]; sys.exit(0 if any(e.get('event')=='folder' and e['name']=='Français' and e['gone']==1 for e in ev) else 1)"
v1=$(sed -n 's/^version \([0-9]*\) *complete.*/\1/p' "$T/out" | head -1)
mvrun log "$arch"
first=$(sed -n 's/^version \([0-9]*\) *complete.*/\1/p' "$T/out" | head -1)
"$PY" "$IMAP/cmparchive.py" "$T/m1.json" "$arch" "$id" --version "$first" --label "the first version (expunged message still there)" || true

# ---- no-op ----
pull "$URL" "$arch"
expect_rc 0 "a pull with nothing new exits 0"
check "the no-op pull fetched no body and stored nothing" \
	"$PY" -c "import json,sys; ev=[json.loads(l) for l in open('$T/err') if l.startswith('{')]; f=[e for e in ev if e.get('event')=='folder']; d=[e for e in ev if e.get('event')=='done'][0]; sys.exit(0 if f and sum(e['fetched'] for e in f)==0 and d['stored_messages']==0 else 1)"

# ---- UIDVALIDITY reset ----
dv_doveadm mailbox update -u alice --uid-validity 4242 "Work/Projects" 2>"$T/dverr" ||
	fail "doveadm mailbox update --uid-validity ($(cat "$T/dverr"))"
rd manifest >"$T/m3.json"
pull "$URL" "$arch"
expect_rc 0 "pull after a UIDVALIDITY reset exits 0"
check "after the reset the folder's bodies are fetched again, and none is stored twice" \
	"$PY" -c "import json,sys; ev=[json.loads(l) for l in open('$T/err') if l.startswith('{')]; f=[e for e in ev if e.get('event')=='folder' and e['name']=='Work/Projects'][0]; d=[e for e in ev if e.get('event')=='done'][0]; sys.exit(0 if f['fetched']==4 and d['stored_messages']==0 else 1)"
"$PY" "$IMAP/cmparchive.py" "$T/m3.json" "$arch" "$id" --label "after the UIDVALIDITY reset" || true

# ---- refusals: each its exit code, archive untouched ----
before=$(sum)
echo "not-the-password" >"$T/wrong.pass"
mvrun pull "$URL" "$arch" --identity "$id" --cacert "$DV_CA" --password-file "$T/wrong.pass"
expect_rc 7 "wrong password exits 7 (authentication)"
check "the wrong-password message says so" grep -qi 'auth\|login\|password' "$T/err"
mvrun pull "$URL" "$arch" --identity "$id" --password-file "$PASSF"
expect_rc 8 "a server certificate from an unknown CA exits 8 (TLS)"
check "the unknown-CA message names the certificate problem" grep -qi 'certif' "$T/err"
mvrun pull "$URL" "$arch" --identity "$id" --password-file "$PASSF" --pin "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
expect_rc 8 "a wrong pin exits 8 (TLS)"
mvrun pull "imap://alice@127.0.0.1:$DV_PORT_IMAP" "$arch" --identity "$id" --password-file "$PASSF" --pin "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" --cacert "$DV_CA"
expect_rc 8 "STARTTLS with the CA but a wrong pin exits 8 (both must hold)"
mvrun pull "$URL" "$arch" --identity "$id" --password "x"
expect_rc 2 "--password on the command line is refused (usage)"
check "after the refusals the archive is byte for byte the same" test "$(sum)" = "$before"
# A copy whose newest index is damaged (one byte of its last INDEX_PAGE
# record): the previous versions load while the connection opens
# (src/pull_int.h), and their error still stops the pull before it
# writes anything.
cp "$arch" "$T/dmg.mv"
roff=$("$PY" "$MV_TOP/tests/e2e/mvlib.py" flip-last "$T/dmg.mv" INDEX_PAGE)
cp "$T/dmg.mv" "$T/dmg0.mv"
pull "$URL" "$T/dmg.mv"
expect_rc 4 "a pull onto an archive whose newest index page is damaged exits 4 (corruption)"
check "it names the damaged record by its offset" grep -q "index page record at offset $roff does not match its hash" "$T/err"
check "the damaged archive is left as it was" cmp -s "$T/dmg.mv" "$T/dmg0.mv"

# Pin alone (self-signed style trust) and STARTTLS.
pin=$(openssl x509 -in "$DV_DIR/ssl/server.pem" -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64)
mvrun pull "$URL" "$arch" --identity "$id" --password-file "$PASSF" --pin "sha256//$pin"
expect_rc 0 "the right pin alone (no CA) is trusted"
pull "imap://alice@127.0.0.1:$DV_PORT_IMAP" "$arch"
expect_rc 0 "imap:// upgrades with STARTTLS and pulls"

# Plaintext: a server offering no TLS at all.
dv_start_plaintext plain || fail "a plaintext Dovecot starts"
dv_load alice "$md" >/dev/null 2>&1
mvrun pull "imap://alice@127.0.0.1:$DV_PORT_IMAP" "$T/plain.mv" --identity "$id" --password-file "$DV_PASS_alice"
expect_rc 8 "plaintext imap:// without STARTTLS is refused (exit 8) although Dovecot would accept the login on 127.0.0.1"
check "nothing was created by the refused plaintext pull" test ! -e "$T/plain.mv" -o ! -s "$T/plain.mv"
check "Dovecot logged no login from the refused plaintext pull" sh -c "! grep -q 'Login: user=<alice>' '$DV_LOG'"
mvrun pull "imap://alice@127.0.0.1:$DV_PORT_IMAP" "$T/plain.mv" --identity "$id" --password-file "$DV_PASS_alice" --insecure-plaintext
expect_rc 0 "--insecure-plaintext pulls over plaintext"
check "--insecure-plaintext warns loudly" grep -q 'WARNING' "$T/err"
dv_stop >/dev/null 2>&1
dv_select "$(echo $DV_ALL | cut -d' ' -f1)"

# ---- OAuth 2.0 (OAUTHBEARER / XOAUTH2 against Dovecot's oauth2 passdb) ----
if dv_start_oauth oauth; then
	dv_load alice "$md" >/dev/null 2>&1
	mvrun pull "imaps://alice@127.0.0.1:$DV_PORT_IMAPS" "$T/oauth.mv" --identity "$id" \
		--cacert "$DV_CA" --oauth2-token-file "$DV_TOKEN_alice"
	expect_rc 0 "a pull with an OAuth 2.0 bearer token (--oauth2-token-file) exits 0"
	echo "not-a-token" >"$T/bad.token"
	mvrun pull "imaps://alice@127.0.0.1:$DV_PORT_IMAPS" "$T/oauth2.mv" --identity "$id" \
		--cacert "$DV_CA" --oauth2-token-file "$T/bad.token"
	expect_rc 7 "a bad OAuth token exits 7 (authentication)"
	tok_a=$(cat "$DV_TOKEN_alice")
	dv_stop >/dev/null 2>&1
else
	fail "a Dovecot with OAuth 2.0 starts"
fi
dv_select "$(echo $DV_ALL | cut -d' ' -f1)"

# ---- the server killed mid-pull, then restarted ----
big=$T/bigsrc
"$PY" "$MV_TOP/tests/e2e/corpus.py" small "$big" --folders 2 --count 150 --size 60000 --random --seed 3 >/dev/null
dv_load bob "$big" || fail "bob's mailbox loads"
BURL="imaps://bob@127.0.0.1:$DV_PORT_IMAPS"
arch2=$T/b.mv
(MV_TEST_BACKOFF_MS=1500 "$MV_TEST" --log-json pull "$BURL" "$arch2" --identity "$id" --cacert "$DV_CA" \
	--password-file "$DV_PASS_bob" --batch 10 >"$T/k.out" 2>"$T/k.err"; echo $? >"$T/k.rc") &
bgp=$!
i=0
while [ $i -lt 100 ] && ! grep -q '"event":"progress"' "$T/k.err" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
# Frozen first, so that the kill lands mid-pull however fast 9 MB go.
dv_imapsig STOP
dv_kill
sleep 1
dv_restart || fail "dovecot restarts"
wait $bgp
check "a pull whose server died and came back finishes (exit 0)" test "$(cat "$T/k.rc")" = 0
check "it reconnected" grep -q '"event":"reconnect"' "$T/k.err"
PASSF=$DV_PASS_bob
"$PY" "$IMAP/imapread.py" manifest --port "$DV_PORT_IMAPS" --ca "$DV_CA" --user bob --passfile "$DV_PASS_bob" >"$T/mb.json"
"$PY" "$IMAP/cmparchive.py" "$T/mb.json" "$arch2" "$id" --label "pull across a server restart" || true

# ---- the client killed mid-pull, then rerun ----
arch3=$T/c.mv
"$MV_TEST" --log-json pull "$BURL" "$arch3" --identity "$id" --cacert "$DV_CA" --password-file "$DV_PASS_bob" \
	--checkpoint-mb 1 --batch 5 >"$T/c1.out" 2>"$T/c1.err" &
bgp=$!
i=0
while [ $i -lt 300 ] && [ "$(grep -c '"event":"checkpoint"' "$T/c1.err" 2>/dev/null)" -lt 3 ]; do sleep 0.05; i=$((i + 1)); done
dv_imapsig STOP
kill -9 $bgp 2>/dev/null
wait $bgp 2>/dev/null
dv_imapsig CONT
mvrun log "$arch3"
part=$(grep -c 'partial' "$T/out")
check "the killed pull left partial checkpoints ($part)" test "$part" -ge 1
lastp=$(sed -n 's/^version \([0-9]*\) *partial.*/\1/p' "$T/out" | tail -1)
mvrun ls --json "$arch3" --identity "$id" --version "${lastp:-1}"
held=$("$PY" -c "import json; print(sum(json.loads(l).get('size',0) for l in open('$T/out') if '\"uid\"' in l))")
total=$("$PY" -c "import json; m=json.load(open('$T/mb.json')); print(sum(x['size'] for f in m['folders'].values() for x in f['messages'].values()))")
mvrun --log-json pull "$BURL" "$arch3" --identity "$id" --cacert "$DV_CA" --password-file "$DV_PASS_bob"
expect_rc 0 "the rerun completes"
again=$("$PY" -c "import json; print(sum(json.loads(l)['fetched_bytes'] for l in open('$T/err') if '\"event\":\"folder\"' in l))")
check "the rerun fetched nothing its partial checkpoint held (held $held of $total bytes, fetched $again)" \
	test "$held" -gt 0 -a "$again" -le $((total - held))
"$PY" "$IMAP/cmparchive.py" "$T/mb.json" "$arch3" "$id" --label "pull killed and rerun" || true

# ---- secrets ----
pw_a=$(cat "$DV_PASS_alice")
pw_b=$(cat "$DV_PASS_bob")
leak=$(grep -rlF -e "$pw_a" -e "$pw_b" -e "${tok_a:-$pw_a}" "$T" $DV_ALL 2>/dev/null | grep -v '/secrets/\(pass\|token\)\.' || true)
check "no IMAP password or token appears in any output, log or file but the secret files ($leak)" test -z "$leak"

finish
