#!/bin/sh
# t-transport: the IMAP transport (src/transport.c) against real Dovecot
# servers started by dovecot.sh, through tests/imap/conntest.c built with
# ASan + UBSan (leak checking on) against build/asan/libmv.a.
#
# Proves: implicit TLS and STARTTLS with a CA file fill the TLS facts (the
# pin and certificate hash agree with openssl(1)); plaintext is refused
# unless allowed, and the refusal is the client's (Dovecot logs no login
# attempt); wrong password and bad token are MV_E_AUTH and a token never
# falls back to PLAIN; unknown CA, wrong pin, pin mismatch with a CA file
# and TLS to a plaintext port are MV_E_TLS, the error naming the server's
# pin; a pin alone replaces CA verification; OAUTHBEARER, and XOAUTH2 when
# it is all the server offers; closing sends nothing; the server's close
# after LOGOUT is a clean end of data; refused connection, silent server,
# read timeout and a killed server (no close_notify) are MV_E_NET; URLs with
# a password are refused without echoing it; no password or token reaches
# any output or any file of the test but its own secret file.
#
# Prints "PASS: ..." / "FAIL: ..." lines; exits non-zero if any failed.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
: "${MV_TOP:=$(cd "$HERE/../.." && pwd)}"
: "${ASAN_OPTIONS:=detect_leaks=1:abort_on_error=1}"
: "${UBSAN_OPTIONS:=print_stacktrace=1:halt_on_error=1}"
export ASAN_OPTIONS UBSAN_OPTIONS
CC=${CC:-cc}

nfail=0
npass=0
pass() { npass=$((npass + 1)); echo "PASS: $*"; }
fail() { nfail=$((nfail + 1)); echo "FAIL: $*"; }
# check NAME 'CONDITION': PASS if the shell condition (evaluated now)
# holds.
check() { if eval "$2"; then pass "$1"; else fail "$1"; fi; }
finish() {
	echo "# $npass passed, $nfail failed"
	[ "$nfail" -eq 0 ] && exit 0
	exit 1
}

# Under /tmp rather than $TMPDIR: the unprivileged Dovecot processes must
# reach their instance directories, which live inside this one.
T=$(mktemp -d /tmp/mv-imap.XXXXXX) || { echo "FAIL: mktemp -d"; exit 1; }
chmod 711 "$T"
mkdir -p "$T/out" "$T/bin" "$T/dv"
chmod 711 "$T/dv"
DV_TMP=$T/dv
DV_HERE=$HERE
. "$HERE/dovecot.sh"
# MV_KEEP=1 keeps the directory (and stops the servers) for a post-mortem.
cleanup() {
	dv_stop_all
	[ -n "${silent_pid:-}" ] && kill "$silent_pid" 2>/dev/null
	if [ -n "${MV_KEEP:-}" ]; then echo "# kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- build conntest ---------------------------------------------------

LIB=$MV_TOP/build/asan/libmv.a
CT=$T/bin/conntest
PKGS="libsodium libzstd libcurl libarchive openssl"
if [ ! -f "$LIB" ]; then
	fail "build/asan/libmv.a is missing (make SANITIZE=1 tools)"
	finish
fi
# shellcheck disable=SC2046
if $CC -std=c11 -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wvla -Wformat=2 -Wconversion -Wno-sign-conversion -Werror \
	-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer -D_GNU_SOURCE -I"$MV_TOP/src" \
	$(pkg-config --cflags $PKGS) -o "$CT" "$HERE/conntest.c" "$LIB" \
	$(pkg-config --libs $PKGS) -pthread >"$T/out/build.log" 2>&1; then
	pass "conntest builds against build/asan/libmv.a without warnings"
else
	cat "$T/out/build.log"
	fail "conntest builds against build/asan/libmv.a without warnings"
	finish
fi

# ---- helpers ----------------------------------------------------------

# Exit statuses: mv_err_class() (err.h).
OK=0 USAGE=1 AUTH=7 TLS=8 NET=9
n=0
# ct ARGS...: runs conntest; stdout in $out, stderr in $err (both kept
# under $T/out for the secret scan), status in $rc.  A crash or a
# sanitizer report is a failure of its own.
ct() {
	n=$((n + 1))
	out=$T/out/$n.out
	err=$T/out/$n.err
	printf '%s\n' "$*" >"$T/out/$n.cmd"
	"$CT" "$@" >"$out" 2>"$err"
	rc=$?
	if [ "$rc" -ge 128 ] || grep -q 'Sanitizer\|runtime error' "$err"; then
		fail "conntest $n ran clean under ASan/UBSan (status $rc): $(head -c 2000 "$err")"
	fi
}
# expect_rc CODE NAME: the last run exited with CODE.
expect_rc() {
	if [ "$rc" = "$1" ]; then
		pass "$2"
	else
		fail "$2 (exit $rc, wanted $1: $(head -c 600 "$err"))"
	fi
}
field() { sed -n "s/^tls\\.$1=//p" "$out"; }
seen() { sed -n "s/^seen\\.$1=//p" "$out"; }
in_err() { grep -q -- "$1" "$err"; }
in_out() { grep -q -- "$1" "$out"; }

# The Dovecot log of the current instance from a mark on.
logmark() { mark=$(wc -l <"$DV_LOG"); }
newlog() { tail -n +"$((mark + 1))" "$DV_LOG"; }
# wait_log PATTERN: up to 10 s for PATTERN in the new log lines (Dovecot
# logs through a separate process, a moment after the fact).
wait_log() {
	_i=0
	while ! newlog | grep -q -- "$1"; do
		_i=$((_i + 1))
		[ "$_i" -gt 200 ] && return 1
		sleep 0.05
	done
}
no_log() { ! newlog | grep -q -- "$1"; }

# The server's pin and certificate hash, computed by openssl(1).
openssl_pin() {
	printf 'sha256//%s' "$(openssl x509 -in "$1" -pubkey -noout |
		openssl pkey -pubin -outform der | openssl dgst -sha256 -binary |
		openssl base64 -A)"
}
openssl_certhash() {
	openssl x509 -in "$1" -outform der | openssl dgst -sha256 -r | cut -d' ' -f1
}
# A pin that matches nothing: SHA-256 of some random bytes.
WRONG_PIN="sha256//$(head -c 32 /dev/urandom | openssl dgst -sha256 -binary | openssl base64 -A)"

# ---- URLs -------------------------------------------------------------

ct --parse-url imaps://alice@127.0.0.1:20001
check "url: imaps://alice@127.0.0.1:20001 gives TLS, host, port, user" \
	'[ "$rc" = 0 ] && in_out "^url.implicit_tls=1\$" && in_out "^url.host=127.0.0.1\$" && in_out "^url.port=20001\$" && in_out "^url.user=alice\$"'
ct --parse-url 'imap://bob%40example.org@mail.example.org/'
check "url: imap:// defaults to port 143, user percent-decoded, trailing / allowed" \
	'[ "$rc" = 0 ] && in_out "^url.implicit_tls=0\$" && in_out "^url.port=143\$" && in_out "^url.user=bob@example.org\$" && in_out "^url.host=mail.example.org\$"'
ct --parse-url 'imaps://[::1]'
check "url: bracketed IPv6 host, port 993 by default" \
	'[ "$rc" = 0 ] && in_out "^url.host=::1\$" && in_out "^url.port=993\$"'
ct --parse-url 'imaps://alice:Sekr1tInUrl@127.0.0.1'
check "url: a password in the URL is refused (usage) and not echoed" \
	'[ "$rc" = "$USAGE" ] && in_err "password" && ! grep -q Sekr1tInUrl "$err" "$out"'
for bad in 'imaps://127.0.0.1/INBOX' 'imaps://127.0.0.1:0' 'imaps://127.0.0.1:65536' \
	'https://127.0.0.1' 'imaps://' 'imaps://a%00b@127.0.0.1' 'imaps://bad host' \
	'imaps://[::1' 'imaps://127.0.0.1?x'; do
	ct --parse-url "$bad"
	check "url: '$bad' is a usage error" \
		'[ "$rc" = "$USAGE" ]'
done

# ---- the main server: implicit TLS, STARTTLS, passwords, OAuth2 -------

if ! dv_start_oauth main >"$T/out/dv-main.log" 2>&1; then
	cat "$T/out/dv-main.log"
	fail "dovecot (main) starts"
	finish
fi
pass "dovecot (main) starts on $DV_PORT_IMAPS (TLS) and $DV_PORT_IMAP (STARTTLS)"
MAIN=$DV_DIR
S=imaps://alice@127.0.0.1:$DV_PORT_IMAPS
P=imap://alice@127.0.0.1:$DV_PORT_IMAP
PIN=$(openssl_pin "$DV_DIR/ssl/server.pem")
CERTHASH=$(openssl_certhash "$DV_DIR/ssl/server.pem")
CA_PIN=$(openssl_pin "$DV_CA")
MAIN_TOKEN=$DV_TOKEN_alice

logmark
ct --password-file "$DV_PASS_alice" --cacert "$DV_CA" "$S"
expect_rc $OK "imaps with --cacert: logged in, CAPABILITY and LOGOUT answered"
check "imaps: tls=1, verified=1, verify_result=ok" \
	'[ "$(field tls)" = 1 ] && [ "$(field verified)" = 1 ] && [ "$(field verify_result)" = ok ]'
check "imaps: version is TLSv1.2 or TLSv1.3, cipher named" \
	'case "$(field version)" in TLSv1.2|TLSv1.3) [ -n "$(field cipher)" ] ;; *) false ;; esac'
check "imaps: pin equals openssl's SPKI pin of the server certificate" \
	'[ "$(field pin)" = "$PIN" ]'
check "imaps: cert_sha256 equals openssl's hash of the certificate" \
	'[ "$(field cert_sha256)" = "$CERTHASH" ]'
check "imaps: raw responses printed (CAPABILITY, a1 OK, BYE, a2 OK)" \
	'in_out "^S: \* CAPABILITY IMAP4rev1" && in_out "^S: a1 OK" && in_out "^S: \* BYE" && in_out "^S: a2 OK"'
check "imaps: Dovecot logged a PLAIN login over TLS and a LOGOUT" \
	'wait_log "Login: user=<alice>, method=PLAIN.*, TLS," && wait_log "Logged out"'

ct --password-file "$DV_PASS_alice" --cacert "$DV_CA" --read-eof "$S"
expect_rc $OK "after LOGOUT, the server's close (with close_notify) reads as a clean end"
check "clean end: the read returned 0 bytes, no error" \
	'in_out "^EOF: clean\$"'

logmark
ct --password-file "$DV_PASS_alice" --cacert "$DV_CA" "$P"
expect_rc $OK "imap:// with STARTTLS: logged in"
check "STARTTLS: tls=1, verified=1, same pin" \
	'[ "$(field tls)" = 1 ] && [ "$(field verified)" = 1 ] && [ "$(field pin)" = "$PIN" ]'
check "STARTTLS: Dovecot saw the login after TLS started" \
	'wait_log "Login: user=<alice>, method=PLAIN.*lip=127.0.0.1.*, TLS,"'

ct --password-file "$DV_PASS_alice" --cacert "$DV_CA" --insecure-plaintext "$P"
expect_rc $OK "imap:// with --insecure-plaintext still uses STARTTLS when offered"
check "insecure-plaintext on a STARTTLS server: tls=1, verified=1" \
	'[ "$(field tls)" = 1 ] && [ "$(field verified)" = 1 ]'

logmark
ct --password-file "$DV_PASS_bob" --cacert "$DV_CA" "$S"
expect_rc $AUTH "wrong password: auth error"
check "wrong password: message names the server and the user" \
	'in_err "imaps://127.0.0.1:$DV_PORT_IMAPS" && in_err "login as .alice. refused"'
check "wrong password: Dovecot logged the failed attempt" \
	'wait_log "auth failed"'

logmark
ct --password-file "$DV_PASS_alice" "$S"
expect_rc $TLS "unknown CA (system store): TLS error"
check "unknown CA: message says what and where, and gives the server's pin" \
	'in_err "imaps://127.0.0.1:$DV_PORT_IMAPS: certificate verify failed: " && in_err "$PIN"'
check "unknown CA: opts.seen has the pin and hash to offer, verified=0, the chain error" \
	'[ "$(seen pin)" = "$PIN" ] && [ "$(seen cert_sha256)" = "$CERTHASH" ] && [ "$(seen tls)" = 1 ] && [ "$(seen verified)" = 0 ] && [ "$(seen verify_result)" = "unable to get local issuer certificate" ] && [ -n "$(seen version)" ]'
check "unknown CA: Dovecot saw no login attempt" \
	'wait_log "Disconnected" && no_log "Login:" && no_log "auth failed"'

ct --password-file "$DV_PASS_alice" --pin "$PIN" "$S"
expect_rc $OK "pin alone (no CA file): logged in"
check "pin alone: verified=0 (no CA vouched), the pin matches, verify_result says why" \
	'[ "$(field verified)" = 0 ] && [ "$(field pin)" = "$PIN" ] && [ -n "$(field verify_result)" ] && [ "$(field verify_result)" != ok ]'

ct --password-file "$DV_PASS_alice" --pin "$PIN" --insecure-plaintext "$P"
expect_rc $OK "pin alone over STARTTLS: logged in"

logmark
ct --password-file "$DV_PASS_alice" --pin "$WRONG_PIN" "$S"
expect_rc $TLS "wrong pin alone: TLS error"
check "wrong pin: message gives the server's pin and the one expected" \
	'in_err "does not match the pin" && in_err "$PIN" && in_err "$WRONG_PIN"'
check "wrong pin: Dovecot saw no login attempt" \
	'wait_log "Disconnected" && no_log "Login:" && no_log "auth failed"'

ct --password-file "$DV_PASS_alice" --cacert "$DV_CA" --pin "$CA_PIN" "$S"
expect_rc $TLS "CA file + wrong pin (the CA's key): TLS error"
ct --password-file "$DV_PASS_alice" --cacert "$DV_CA" --pin "$PIN" "$S"
expect_rc $OK "CA file + right pin: logged in"
check "CA file + right pin: verified=1" \
	'[ "$(field verified)" = 1 ]'

ct --password-file "$DV_PASS_alice" --pin 'sha256//c2hvcnQ=' "$S"
expect_rc $USAGE "a pin that is not 32 bytes: usage error"
ct --password-file "$DV_PASS_alice" --cacert "$T/nonexistent.pem" "$S"
expect_rc $USAGE "an unreadable CA file: usage error"
ct --password-file "$DV_PASS_alice" --cacert "$DV_CA" "imaps://127.0.0.1:$DV_PORT_IMAPS"
expect_rc $USAGE "no user name: refused before connecting (libcurl would skip the login)"
ct --cacert "$DV_CA" "$S"
expect_rc $USAGE "neither password nor token: usage error"
ct --password-file "$DV_PASS_alice" --token-file "$DV_TOKEN_alice" --cacert "$DV_CA" "$S"
expect_rc $USAGE "both password and token: usage error"

logmark
ct --token-file "$DV_TOKEN_alice" --cacert "$DV_CA" "$S"
expect_rc $OK "OAuth2 token: logged in"
check "OAuth2 token: Dovecot logged an OAUTHBEARER login" \
	'wait_log "Login: user=<alice>, method=OAUTHBEARER"'

logmark
ct --token-file "$DV_PASS_bob" --cacert "$DV_CA" "$S"
expect_rc $AUTH "bad token: auth error"
check "bad token: refused as OAUTHBEARER, no fallback to PLAIN or LOGIN" \
	'wait_log "auth failed.*method=OAUTHBEARER" && no_log "method=PLAIN" && no_log "method=LOGIN"'

logmark
ct --password-file "$DV_PASS_alice" --cacert "$DV_CA" --no-logout "$S"
expect_rc $OK "close without LOGOUT"
check "closing sends nothing: Dovecot saw the connection close, not a LOGOUT" \
	'wait_log "imap(alice).*Disconnected: Connection closed" && no_log "Logged out"'

ct --password-file "$DV_PASS_alice" --cacert "$DV_CA" --timeout 2 --idle-read "$S"
expect_rc $NET "a read with nothing to come times out: network error"
check "read timeout: message says so" \
	'in_err "timed out after 2 s waiting to read"'

# ---- XOAUTH2 when the server has no OAUTHBEARER ------------------------

DV_WANT_OAUTH_MECHS=xoauth2
if dv_start_oauth x2 >"$T/out/dv-x2.log" 2>&1; then
	pass "dovecot (XOAUTH2 only) starts"
	logmark
	ct --token-file "$DV_TOKEN_alice" --cacert "$DV_CA" \
		"imaps://alice@127.0.0.1:$DV_PORT_IMAPS"
	expect_rc $OK "token on a server with XOAUTH2 only: logged in"
	check "XOAUTH2 fallback: Dovecot logged an XOAUTH2 login" \
		'wait_log "Login: user=<alice>, method=XOAUTH2"'
else
	cat "$T/out/dv-x2.log"
	fail "dovecot (XOAUTH2 only) starts"
fi

# ---- a server without TLS ----------------------------------------------

if dv_start_plaintext plain >"$T/out/dv-plain.log" 2>&1; then
	pass "dovecot (plaintext only) starts"
	PL=imap://alice@127.0.0.1:$DV_PORT_IMAP

	logmark
	ct --password-file "$DV_PASS_alice" --cacert "$DV_CA" "$PL"
	expect_rc $TLS "imap:// to a server without STARTTLS: refused (TLS error)"
	check "plaintext refused: message says STARTTLS is missing" \
		'in_err "STARTTLS"'
	check "plaintext refused by the client: Dovecot saw no login attempt" \
		'wait_log "no auth attempts" && no_log "Login:" && no_log "auth failed"'

	logmark
	ct --password-file "$DV_PASS_alice" --insecure-plaintext "$PL"
	expect_rc $OK "imap:// with --insecure-plaintext: logged in without TLS"
	check "insecure-plaintext: tls=0, verified=0, no TLS facts" \
		'[ "$(field tls)" = 0 ] && [ "$(field verified)" = 0 ] && [ -z "$(field pin)" ]'
	check "insecure-plaintext: Dovecot logged a login without TLS" \
		'wait_log "Login: user=<alice>" && no_log ", TLS,"'

	logmark
	ct --token-file "$MAIN_TOKEN" --insecure-plaintext "$PL"
	expect_rc $AUTH "token on a server offering no OAuth mechanism: auth error"
	check "no OAuth mechanism: the token is not tried as a PLAIN password" \
		'wait_log "Disconnected" && no_log "Login:" && no_log "auth failed"'

	ct --password-file "$DV_PASS_alice" --cacert "$DV_CA" \
		"imaps://alice@127.0.0.1:$DV_PORT_IMAPS"
	expect_rc $TLS "imaps:// to a plaintext port: TLS error"
else
	cat "$T/out/dv-plain.log"
	fail "dovecot (plaintext only) starts"
fi

# ---- network failures --------------------------------------------------

free_port=$("$DV_PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
ct --password-file "$DV_PASS_alice" --timeout 5 "imaps://alice@127.0.0.1:$free_port"
expect_rc $NET "connection refused: network error"
check "connection refused: opts.seen is empty (tls=0, no pin)" \
	'[ "$(seen tls)" = 0 ] && [ -z "$(seen pin)" ]'

# A server that accepts and never says a word.
"$DV_PYTHON" -c '
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(4)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write("%d\n" % s.getsockname()[1])
import os
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
conns = []
while True:
    conns.append(s.accept())
' "$T/silent.port" </dev/null >/dev/null 2>&1 &
silent_pid=$!
_i=0
while [ ! -s "$T/silent.port" ] && [ "$_i" -lt 100 ]; do _i=$((_i + 1)); sleep 0.05; done
silent=$(cat "$T/silent.port" 2>/dev/null)
for u in "imaps://alice@127.0.0.1:$silent" "imap://alice@127.0.0.1:$silent"; do
	t0=$(date +%s)
	ct --password-file "$DV_PASS_alice" --cacert "$DV_CA" --timeout 2 "$u"
	t1=$(date +%s)
	expect_rc $NET "silent server ($u): network error"
	check "silent server ($u): gave up within the timeout ($((t1 - t0)) s)" \
		'[ $((t1 - t0)) -le 6 ]'
done
kill "$silent_pid" 2>/dev/null
silent_pid=

# The server dies while two clients hold logged-in connections: one then
# reads, the other writes.
dv_select "$MAIN"
rm -f "$T/go"
for k in read write; do
	: >"$T/out/kill-$k.out"
	set -- --pause-file "$T/go"
	[ "$k" = write ] && set -- "$@" --pause-write
	"$CT" --password-file "$DV_PASS_alice" --cacert "$DV_CA" --timeout 10 "$@" "$S" \
		>"$T/out/kill-$k.out" 2>"$T/out/kill-$k.err" &
	eval "pid_$k=\$!"
done
_i=0
while ! { grep -q '^PAUSED' "$T/out/kill-read.out" && grep -q '^PAUSED' "$T/out/kill-write.out"; } &&
	[ "$_i" -lt 200 ]; do
	_i=$((_i + 1))
	sleep 0.05
done
paused=no
grep -q '^PAUSED' "$T/out/kill-read.out" && grep -q '^PAUSED' "$T/out/kill-write.out" && paused=yes
check "server killed: both clients logged in and paused" '[ "$paused" = yes ]'
[ "$paused" = yes ] && dv_kill
touch "$T/go"
for k in read write; do
	eval "wait \$pid_$k"
	rc=$?
	out=$T/out/kill-$k.out
	err=$T/out/kill-$k.err
	if [ "$rc" -ge 128 ] || grep -q 'Sanitizer\|runtime error' "$err"; then
		fail "conntest (server killed, $k) ran clean: no signal, no sanitizer report (status $rc): $(head -c 2000 "$err")"
	fi
	[ "$paused" = yes ] || continue
	expect_rc $NET "server killed: the next $k is a network error"
done
err=$T/out/kill-read.err
check "server killed: the read says the connection was cut (no close_notify)" \
	'in_err "read failed: the connection was cut"'
err=$T/out/kill-write.err
check "server killed: the write fails (no SIGPIPE)" \
	'in_err "write failed"'

# ---- no secret anywhere -------------------------------------------------

# Every password and token file of every instance; grep reads the
# patterns from the files, so no secret is in any argv here either.
secrets=$(find "$T/dv" -path '*/secrets/*' -type f \( -name 'pass.*' -o -name 'token.*' \))
nsec=$(printf '%s\n' "$secrets" | grep -c .)
check "secret scan: found the password and token files ($nsec)" \
	'[ "$nsec" -ge 8 ]'
leaks=
for f in $secrets; do
	for hit in $(grep -rlF -f "$f" "$T" 2>/dev/null); do
		[ "$hit" = "$f" ] || leaks="$leaks $hit"
	done
done
check "no password or token in any output or any file under the test directory${leaks:+ (found in:$leaks)}" \
	'[ -z "$leaks" ]'

finish

