#!/bin/sh
# t20-noplaintext: no message datum and no passphrase reaches the disk.
#
# Unique random markers sit in bodies, subjects, From/To addresses, Maildir
# unique names, a folder name and a keyword.  After pulls with and without
# --no-compress and every read command, no file anywhere under the test's
# HOME, TMPDIR and work directory (everything but the source mailbox and
# the captured terminal output) holds a marker.  The passphrase appears in
# no file but the passphrase file, in no command's stdout or stderr
# (--log-json included) and in no process's argv; no option takes it.
. "$(dirname "$0")/lib.sh"
need_bin "$MV"
mkdir -p "$T/src" "$T/cmdout" "$T/work"
rnd() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }
PW="pw-$(rnd 16)"
WRONG="wrong-$(rnd 16)"
printf '%s\n' "$PW" >"$T/src/pwfile"
chmod 600 "$T/src/pwfile"

fresh_corpus markers "$T/src/md" --markers "$T/src/markers.txt" || finish
nmarkers=$(wc -l <"$T/src/markers.txt")
touch "$T/stamp"

n=0
jsonerr=
# run_saved ARGS...: mvrun, keeping stdout and stderr under $T/cmdout
# (the stderr of --log-json runs is listed in $jsonerr).
run_saved() {
	mvrun "$@"
	n=$((n + 1))
	cp "$T/out" "$T/cmdout/$n.out"
	cp "$T/err" "$T/cmdout/$n.err"
	[ "$1" = --log-json ] && jsonerr="$jsonerr $T/cmdout/$n.err"
	last_out=$T/cmdout/$n.out
}

MBOX_VAULT_PASSPHRASE=$PW
export MBOX_VAULT_PASSPHRASE
run_saved pull "maildir:$T/src/md" "$T/work/comp.mv"
expect_rc 0 "pull (compressed) with the passphrase from the environment exits 0"
run_saved --log-json pull "maildir:$T/src/md" "$T/work/comp.mv"
expect_rc 0 "a second pull with --log-json exits 0"
unset MBOX_VAULT_PASSPHRASE
run_saved --log-json pull --no-compress --passphrase-file "$T/src/pwfile" "maildir:$T/src/md" "$T/work/plain.mv"
expect_rc 0 "pull --no-compress with --passphrase-file exits 0"

for a in comp plain; do
	check "archive $a.mv is created 0600" [ "$(fmode "$T/work/$a.mv")" = 600 ]
	run_saved log "$T/work/$a.mv"
	run_saved --log-json ls "$T/work/$a.mv" --passphrase-file "$T/src/pwfile"
	expect_rc 0 "ls $a.mv with --passphrase-file exits 0"
	ls_out=$last_out
	run_saved cat "$T/work/$a.mv" INBOX/1 --passphrase-file "$T/src/pwfile"
	run_saved verify "$T/work/$a.mv"
	run_saved --log-json verify "$T/work/$a.mv" --passphrase-file "$T/src/pwfile"
done
# The listing really holds the markers (so the searches below can succeed).
check "ls output names the marker folder (positive control)" \
	grep -q -F "$(sed -n 1p "$T/src/markers.txt")" "$ls_out"

# Failing commands must not echo secrets either.
printf '%s\n' "$WRONG" >"$T/src/wrongfile"
run_saved ls "$T/work/comp.mv" --passphrase-file "$T/src/wrongfile"
expect_rc 3 "ls with a wrong passphrase exits 3"
run_saved --log-json ls "$T/work/comp.mv" --passphrase-file "$T/src/wrongfile"
expect_rc 3 "ls --log-json with a wrong passphrase exits 3"
MBOX_VAULT_PASSPHRASE=$WRONG
export MBOX_VAULT_PASSPHRASE
run_saved --log-json cat "$T/work/plain.mv" INBOX/1
expect_rc 3 "cat with a wrong passphrase in the environment exits 3"
unset MBOX_VAULT_PASSPHRASE
run_saved pull --passphrase "$PW" "maildir:$T/src/md" "$T/work/comp.mv"
expect_rc 2 "--passphrase on the command line is a usage error"

# A pull blocked on a FIFO source: the live process has the passphrase in
# memory; its argv must not hold it, and core dumps must be off.
mkfifo "$T/src/fifo"
MBOX_VAULT_PASSPHRASE=$PW "$MV" pull "mbox:$T/src/fifo" "$T/work/fifo.mv" \
	>"$T/cmdout/fifo.out" 2>"$T/cmdout/fifo.err" &
pid=$!
i=0
while [ $i -lt 100 ] && ! grep -q '' "$T/work/fifo.mv" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
sleep 0.3
if [ -r "/proc/$pid/cmdline" ]; then
	if tr '\0' '\n' <"/proc/$pid/cmdline" | grep -q -F "$PW"; then
		fail "a running pull's argv does not hold the passphrase"
	else
		pass "a running pull's argv does not hold the passphrase"
	fi
	check "a running pull cannot dump core (RLIMIT_CORE 0)" \
		grep -Eq '^Max core file size +0 +0 ' "/proc/$pid/limits"
else
	fail "the FIFO pull was still running to be inspected"
fi
: >"$T/src/fifo"   # lets the blocked open() return; the pull then fails
wait $pid
rc=$?
cp "$T/cmdout/fifo.err" "$T/err"
no_crash "pull mbox:FIFO"

# Errors are events too: a wrong key, an unknown message, a bad option.
MBOX_VAULT_PASSPHRASE=$PW
export MBOX_VAULT_PASSPHRASE
run_saved --log-json cat "$T/work/comp.mv" NoSuchFolder/1
expect_rc 12 "cat of a message that does not exist exits 12"
run_saved --log-json ls "$T/work/comp.mv" --no-such-option
expect_rc 2 "an unknown option exits 2"
unset MBOX_VAULT_PASSPHRASE
# ---- the searches ----
set --
for x in "$T"/* "$T"/.[!.]*; do
	case $x in "$T/src" | "$T/cmdout" | "$T/.[!.]*") ;; *) set -- "$@" "$x" ;; esac
done
check "the search covers HOME, TMPDIR, the archives and the state directory" \
	[ -d "$T/home/.local/state/mbox-vault" -a -f "$T/work/comp.mv" ]
hits=$(grep -r -a -l -F -f "$T/src/markers.txt" "$@" 2>/dev/null)
if [ -z "$hits" ]; then
	pass "none of $nmarkers markers (bodies, subjects, addresses, names, folder, keyword) is in any file written"
else
	fail "none of $nmarkers markers is in any file written (found in: $(echo "$hits" | tr '\n' ' '))"
fi
check "the markers are found in the source mailbox (the search works)" \
	grep -r -q -F -f "$T/src/markers.txt" "$T/src/md"
# Files created anywhere in the shared temp directories during the test.
others=$(find /tmp /var/tmp /dev/shm -xdev -newer "$T/stamp" -type f ! -path "$T/*" 2>/dev/null)
if [ -n "$others" ] && echo "$others" | tr '\n' '\0' | xargs -0 grep -a -l -F -f "$T/src/markers.txt" 2>/dev/null | grep -q .; then
	fail "no marker is in a file under /tmp, /var/tmp or /dev/shm"
else
	pass "no marker is in a file under /tmp, /var/tmp or /dev/shm"
fi

hits=$(grep -r -a -l -F -e "$PW" -e "$WRONG" "$@" 2>/dev/null)
check "the passphrase is in no file but the passphrase file ($hits)" [ -z "$hits" ]
hits=$(grep -a -l -F -e "$PW" -e "$WRONG" "$T/cmdout"/* 2>/dev/null)
check "no stdout or stderr (--log-json included) of $n commands shows a passphrase ($hits)" [ -z "$hits" ]
notjson=$("$PY" -c 'import json,sys
for f in sys.argv[1:]:
    for l in open(f, encoding="utf-8", errors="replace"):
        try:
            json.loads(l)
        except ValueError:
            print(repr(l.strip())[:120], end=" ")' $jsonerr)
check "the --log-json stderr of $(echo $jsonerr | wc -w) commands (errors included) is JSON lines ($notjson)" [ -z "$notjson" ]
bad=$(find "$T/home/.local/state" \( -type d ! -perm 700 \) -o \( -type f ! -perm 600 \) 2>/dev/null)
check "the rollback state directory is 0700 and its files 0600 ($bad)" [ -z "$bad" ]

finish
