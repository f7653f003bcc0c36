#!/bin/sh
# `make demo`: the whole migration on an embedded sample mailbox.
#
# Builds mbox-vault, starts two throwaway Dovecot servers on 127.0.0.1
# with TLS (tests/imap/dovecot.sh: each with its own configuration, a CA
# made for it and random passwords, all under /tmp; the system's Dovecot
# and /etc are never touched), loads a small mailbox into the source, and
# then does what a user migrating an account does:
#
#   1. pull imaps://SOURCE -> an encrypted, signed archive
#   2. verify the archive without any key (what an auditor can do)
#   3. push the archive into the target, whose hierarchy delimiter is '.'
#      where the source's is '/'
#   4. verify the archive --against the target (exit 0 only if it matches)
#   5. an independent client (Python's imaplib) reads both servers and
#      compares them message by message
#   6. push once more: it appends nothing
#
# Every IMAP password, the archive passphrase and the CA come from files,
# never from the command line.  The servers are stopped and every
# temporary file is removed on exit, also when a step fails or the demo
# is interrupted.  The exit status is non-zero when any step fails.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

step=0
# say TEXT: one plain-words line about what happens next.
say() { printf '%s\n' "$*"; }
# title TEXT: a numbered heading.
title() { step=$((step + 1)); printf '\n== %d. %s\n' "$step" "$*"; }
# run CMD...: shows the command (paths under the demo directory as $D),
# runs it, and stops the demo if it fails.
run() {
	printf '   $ %s\n' "$(printf ' %s' "$@" | sed "s|^ ||; s|$MV|mbox-vault|; s|$d|\$D|g;
		s|${SRC_DIR:-/nonexistent}|\$SOURCE|g; s|${TGT_DIR:-/nonexistent}|\$TARGET|g")"
	if "$@"; then
		return 0
	else
		_rc=$?
		say "demo FAILED in step $step: the command above exited with status $_rc"
		exit "$_rc"
	fi
}
die() { say "demo FAILED in step $step: $*"; exit 1; }

title "build mbox-vault"
make -s all || die "the build failed"
MV="$top/mbox-vault"
say "   built $MV"

d=$(mktemp -d /tmp/mbox-vault-demo.XXXXXX)
MV_TOP=$top
. "$top/tests/imap/dovecot.sh"
# The servers stop and the directory goes whatever happens; a signal
# becomes an exit so that the EXIT trap runs.
trap 'rc=$?; dv_stop_all >/dev/null 2>&1 || :; rm -rf "$d"
	echo "servers stopped, $d removed"; exit $rc' EXIT
trap 'say "demo interrupted"; exit 130' INT HUP TERM
# mbox-vault's state (the rollback record of each archive, push's record of
# what it appended) stays in the demo directory too.
export HOME="$d/home" XDG_STATE_HOME="$d/state"
mkdir -p "$HOME" "$XDG_STATE_HOME"
unset MBOX_VAULT_PASSPHRASE MBOX_VAULT_IDENTITY_PASSPHRASE MBOX_VAULT_IMAP_PASSWORD
# The demo's throwaway archive passphrase comes from a file, never from argv.
(umask 077 && printf 'demo passphrase, not a secret\n' > "$d/archive.pass")
say "   demo directory: D=$d"

title "start two throwaway Dovecot servers on 127.0.0.1 with TLS"
dv_start source || die "the source Dovecot did not start"
SRC_DIR=$DV_DIR SRC_PORT=$DV_PORT_IMAPS SRC_CA=$DV_CA SRC_PASS=$DV_PASS_alice
say "   source: imaps://alice@127.0.0.1:$SRC_PORT, hierarchy delimiter '/', its own CA"
say "           (SOURCE=$SRC_DIR: configuration, CA, passwords, mail, log)"
DV_SEPARATOR=. dv_start target || die "the target Dovecot did not start"
TGT_DIR=$DV_DIR TGT_PORT=$DV_PORT_IMAPS TGT_CA=$DV_CA TGT_PASS=$DV_PASS_alice
say "   target: imaps://alice@127.0.0.1:$TGT_PORT, hierarchy delimiter '.', another CA"
say "           (TARGET=$TGT_DIR)"
say "   each server's password for alice is a random one in a 0600 file"

title "load a sample mailbox into alice's account on the source"
# A Maildir++ tree: CRLF and LF messages, a NUL byte, 8-bit header bytes,
# a bare CR, a long line, flags (\Seen \Answered \Flagged \Draft),
# keywords ($Forwarded, Project-X), a Sent folder, a nested folder
# (Archive/2024) and a non-ASCII one ("été", modified UTF-7 on disk).
python3 - "$d/sample" <<'PY'
import os, sys
root = sys.argv[1]
def folder(path):
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(path, sub), exist_ok=True)
    # Keyword letters in file names, per folder: a = $Forwarded,
    # b = Project-X.
    with open(os.path.join(path, "dovecot-keywords"), "w") as fh:
        fh.write("0 $Forwarded\n1 Project-X\n")
    return path
msgs = [
    ("", "1700000000.M1P1.demo:2,S", b"From: Alice <alice@example.org>\nTo: bob@example.org\nSubject: Quarterly numbers\nDate: Tue, 14 Nov 2023 22:13:20 +0000\n\nThe numbers are attached.\n"),
    ("", "1700000100.M2P1.demo:2,RSa", b"From: bob@example.org\r\nSubject: Re: Quarterly numbers\r\n\r\nThanks,\r\nFrom the desk of Bob\r\n"),
    ("", "1700000200.M3P1.demo:2,b", b"Subject: binary \x00 and 8-bit \xe9\xe8\n\nbare\rCR and a long line " + b"x" * 1500 + b"\n"),
    ("", "1700000250.M7P1.demo:2,DS", b"From: alice@example.org\r\nSubject: a draft\r\n\r\nnot finished\r\n"),
    (".Sent", "1700000300.M4P1.demo:2,S", b"From: alice@example.org\nSubject: sent item\n\nbody\n"),
    (".&AOk-t&AOk-", "1700000400.M5P1.demo:2,FSb", b"Subject: summer folder\n\n" + os.urandom(3000).hex().encode() + b"\n"),
    (".Archive.2024", "1700000500.M6P1.demo:2,S", b"Subject: archived\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\nold news\r\n"),
]
for sub, name, body in msgs:
    p = folder(os.path.join(root, sub) if sub else root)
    f = os.path.join(p, "cur", name)
    with open(f, "wb") as fh:
        fh.write(body)
    t = int(name.split(".")[0])
    os.utime(f, (t, t))
PY
dv_select "$SRC_DIR"
dv_load alice "$d/sample" || die "loading the sample into the source failed"
say "   7 messages in INBOX, Sent, Archive/2024 and été (Dovecot assigned their UIDs)"

title "pull the source account into an encrypted archive over imaps"
say "   IMAP password from a file (--password-file), the source's CA (--cacert),"
say "   archive passphrase from a file (--passphrase-file); the archive is created, mode 0600"
A=$d/demo.mvault
run "$MV" pull "imaps://alice@127.0.0.1:$SRC_PORT" "$A" --cacert "$SRC_CA" \
	--password-file "$SRC_PASS" --passphrase-file "$d/archive.pass"
say "   what the archive holds:"
run "$MV" log "$A"
run "$MV" ls "$A" --passphrase-file "$d/archive.pass"

title "verify the archive without any key"
say "   header, every record's hash, every Merkle root, every signature and the"
say "   version chain -- what anyone holding only the file can check"
run "$MV" verify "$A"

title "push the archive into the target account"
say "   folders are created with the target's delimiter ('.'), été in modified UTF-7,"
say "   Sent goes to the target's \\Sent folder; bytes, flags, keywords and dates as pulled"
run "$MV" push "$A" "imaps://alice@127.0.0.1:$TGT_PORT" --cacert "$TGT_CA" \
	--password-file "$TGT_PASS" --passphrase-file "$d/archive.pass"

title "verify the target against the archive"
say "   every target message is fetched (read-only) and hashed; exit 0 only if"
say "   nothing is missing, extra, altered, or differs in flags or date"
run "$MV" verify "$A" --against "imaps://alice@127.0.0.1:$TGT_PORT" --cacert "$TGT_CA" \
	--password-file "$TGT_PASS" --passphrase-file "$d/archive.pass"

title "an independent client compares the two servers"
say "   Python's imaplib (not mbox-vault's code) reads every folder of both accounts"
py_read() {  # PORT CA PASSFILE OUT
	python3 "$top/tests/imap/imapread.py" manifest --port "$1" --ca "$2" \
		--user alice --passfile "$3" > "$4"
}
py_read "$SRC_PORT" "$SRC_CA" "$SRC_PASS" "$d/source.json" || die "imaplib could not read the source"
py_read "$TGT_PORT" "$TGT_CA" "$TGT_PASS" "$d/target.json" || die "imaplib could not read the target"
run python3 "$top/tests/imap/cmpservers.py" "$d/source.json" "$d/target.json" \
	"the target holds what the source held"
python3 - "$d/target.json" <<'PY' || die "cannot read the target's folder list"
import json, sys
f = json.load(open(sys.argv[1]))["folders"]
print("   target folders: " + ", ".join(
    "%s (%d)" % (n, len(v["messages"])) for n, v in sorted(f.items()) if v["messages"]))
PY

title "push again: nothing is appended twice"
run "$MV" push "$A" "imaps://alice@127.0.0.1:$TGT_PORT" --cacert "$TGT_CA" \
	--password-file "$TGT_PASS" --passphrase-file "$d/archive.pass"
py_read "$TGT_PORT" "$TGT_CA" "$TGT_PASS" "$d/target2.json" || die "imaplib could not read the target"
run python3 "$top/tests/imap/cmpservers.py" "$d/source.json" "$d/target2.json" \
	"after the second push the target still holds each message exactly once"

printf '\n'
say "demo OK: source -> archive -> target, verified without the key, against the target, and by imaplib"
