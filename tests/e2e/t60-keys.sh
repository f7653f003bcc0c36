#!/bin/sh
# t60-keys: identities, passphrases, readers, signers and rollback state.
#
# Under umask 000: keygen writes 0600 identities and prints a recipient
# (mvr1 + 64 hex) and a signer fingerprint (the one `log` shows for an
# archive it owns); a protected identity needs its passphrase (none, no
# terminal: exit 3; wrong: exit 3, nothing written).  `--passphrase X` on
# the command line is a usage error (exit 2) for every command, and
# nothing is written; with "--passphrase=X" no error message echoes X.  An
# archive created with a passphrase and two --recipient opens with each of
# the three keys; the passphrase works from MBOX_VAULT_PASSPHRASE and from
# --passphrase-file (first line).  A reader (grant, or --recipient at
# creation) can ls, cat and verify with its key, but pull and grant exit 3
# (need-owner) and change nothing.  Wrong keys exit 3 and change nothing
# (a torn tail stays, and a 1-version archive seen here whose COMMIT is cut
# is not started over).  verify --signer of another key exits 6.
# Re-pulling an unchanged mailbox stores 0 new messages and appends only
# index and commit records.  Rollback: putting an older copy back is
# refused ("rolled back", exit 4) by ls, log, verify and pull, but not
# without the remembered state; a rewritten history is refused too; the
# same archive ID signed by another key exits 6.  The archives,
# identities, proof, export and state files are 0600 (directories 0700);
# no passphrase or identity secret appears in any output, and no
# passphrase in any file but its own.
. "$(dirname "$0")/lib.sh"
need_bin "$MV" "$MV_TEST"
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
fsha() { sha256sum "$1" | cut -d' ' -f1; }
rnd() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }
mkdir -p "$T/cmdout" "$T/sec" "$T/argv"
PW="pw-$(rnd 12)"
WRONG="wrong-$(rnd 12)"
IDPW="idpw-$(rnd 12)"
IDWRONG="idwrong-$(rnd 12)"
ARGVPW="argvpw-$(rnd 12)"
printf '%s\n' "$PW" >"$T/sec/pw"
printf '%s\nsecond line, not the passphrase\n' "$PW" >"$T/sec/pw2"
printf '%s\n' "$WRONG" >"$T/sec/wrong"
: >"$T/sec/empty"
chmod 600 "$T/sec"/*
# Everything below is created with a permissive umask: the modes checked
# are the ones the binary sets.
umask 000

n=0
# run ARGS...: mvrun, keeping stdout and stderr under $T/cmdout (scanned
# for secrets at the end).
run() {
	mvrun "$@"
	n=$((n + 1))
	cp "$T/out" "$T/cmdout/$n.out"
	cp "$T/err" "$T/cmdout/$n.err"
}
# run_notty ARGS...: the same in a new session, so no terminal can be
# opened for a passphrase prompt.
if command -v setsid >/dev/null 2>&1; then NOTTY="setsid -w"; else NOTTY=; fi
run_notty() {
	_try=0
	while :; do
		$NOTTY "$MV" "$@" >"$T/out" 2>"$T/err" </dev/null
		rc=$?
		{ [ "$rc" -eq 126 ] || [ "$rc" -eq 127 ]; } && [ $_try -lt 30 ] || break
		_try=$((_try + 1))
		sleep 2
	done
	no_crash "$*"
	n=$((n + 1))
	cp "$T/out" "$T/cmdout/$n.out"
	cp "$T/err" "$T/cmdout/$n.err"
}
# expect_fail WANT REGEX NAME: $rc is WANT and stderr matches REGEX.
expect_fail() {
	if [ "$rc" -eq "$1" ] && grep -Eiq -- "$2" "$T/err"; then
		pass "$3"
	else
		fail "$3 (exit $rc, want $1 and a message matching /$2/: $(head -c 300 "$T/err" | tr '\n' ' '))"
	fi
}
# same NAME FILE SUM: FILE's sha256 is SUM.
same() {
	if [ "$(fsha "$2")" = "$3" ]; then pass "$1"; else fail "$1 ($2 changed)"; fi
}

# ---- the mailbox ----
mkdir -p "$T/md/cur" "$T/md/new" "$T/md/tmp" "$T/md/.Sub/cur" "$T/md/.Sub/new" "$T/md/.Sub/tmp"
printf 'Subject: one\n\nfirst\n' >"$T/md/cur/1.a:2,S"
printf 'Subject: two\r\n\r\nsecond\r\n' >"$T/md/cur/2.a:2,RS"
{ printf 'Subject: three\n\n'; head -c 30000 /dev/urandom; } >"$T/md/new/3.a"
printf 'Subject: sub\n\nin Sub\n' >"$T/md/.Sub/cur/1.b:2,"

# ---- keygen ----
MBOX_VAULT_IDENTITY_PASSPHRASE=$IDPW
export MBOX_VAULT_IDENTITY_PASSPHRASE
run keygen -o "$T/prot.id"
expect_rc 0 "keygen of a protected identity (passphrase from MBOX_VAULT_IDENTITY_PASSPHRASE) exits 0"
unset MBOX_VAULT_IDENTITY_PASSPHRASE
check "keygen prints 'recipient: mvr1' and 64 hex digits" grep -Eq '^recipient: mvr1[0-9a-f]{64}$' "$T/out"
check "keygen prints 'signer: ' and a 64-hex-digit fingerprint" grep -Eq '^signer: [0-9a-f]{64}$' "$T/out"
PROT_R=$(sed -n 's/^recipient: //p' "$T/out")
PROT_FP=$(sed -n 's/^signer: //p' "$T/out")
check "the identity file is 0600 under umask 000" [ "$(fmode "$T/prot.id")" = 600 ]
{ grep -qx "recipient: $PROT_R" "$T/prot.id" && grep -qx "signer: $PROT_FP" "$T/prot.id"; }
ok "the identity file names the recipient and signer keygen printed"
check "the protected identity's secret is wrapped by a KDF (kdf: argon2id line)" grep -q '^kdf: argon2id ' "$T/prot.id"
run_notty keygen -o "$T/nopass.id"
expect_fail 3 'MBOX_VAULT_IDENTITY_PASSPHRASE|passphrase' "keygen without a passphrase and without a terminal: exit 3 with a message"
check "... and writes no identity file" [ ! -e "$T/nopass.id" ]
sum=$(fsha "$T/prot.id")
MBOX_VAULT_IDENTITY_PASSPHRASE=$IDWRONG run keygen -o "$T/prot.id"
expect_fail 2 'exists' "keygen over an existing file: exit 2"
same "... and the existing identity is unchanged" "$T/prot.id" "$sum"
run keygen --unprotected -o "$T/reader1.id"
expect_rc 0 "keygen --unprotected exits 0"
check "keygen --unprotected says so" grep -q '(unprotected)' "$T/out"
check "an unprotected identity is 0600 too" [ "$(fmode "$T/reader1.id")" = 600 ]
R1=$(sed -n 's/^recipient: //p' "$T/reader1.id")
for x in grant other; do
	run keygen --unprotected -o "$T/$x.id"
done
RG=$(sed -n 's/^recipient: //p' "$T/grant.id")
OTHER_FP=$(sed -n 's/^signer: //p' "$T/other.id")

# ---- an archive with a passphrase and two recipients ----
run pull --passphrase-file "$T/sec/pw" --recipient "$R1" --recipient "$PROT_R" "maildir:$T/md" "$T/a.mv"
expect_rc 0 "pull creating an archive with --passphrase-file and two --recipient exits 0"
check "the archive is created 0600 under umask 000" [ "$(fmode "$T/a.mv")" = 600 ]
run log "$T/a.mv"
FP=$(sed -n 's/^signer  //p' "$T/out")
check "log names the archive's signer fingerprint" [ ${#FP} -eq 64 ]
run ls "$T/a.mv" --passphrase-file "$T/sec/pw"
expect_rc 0 "ls with --passphrase-file exits 0"
cp "$T/out" "$T/ls-pw"
check "ls lists the 4 messages" [ "$(grep -c '^  [^ ]*/[0-9]*  #' "$T/ls-pw")" -eq 4 ]
MBOX_VAULT_PASSPHRASE=$PW run ls "$T/a.mv"
{ [ "$rc" -eq 0 ] && cmp -s "$T/out" "$T/ls-pw"; }
ok "ls with MBOX_VAULT_PASSPHRASE exits 0 and lists the same"
run ls "$T/a.mv" --passphrase-file "$T/sec/pw2"
{ [ "$rc" -eq 0 ] && cmp -s "$T/out" "$T/ls-pw"; }
ok "--passphrase-file uses the first line only (a second line is ignored)"
run ls "$T/a.mv" --identity "$T/reader1.id"
{ [ "$rc" -eq 0 ] && cmp -s "$T/out" "$T/ls-pw"; }
ok "ls with the first recipient's identity exits 0 and lists the same"
MBOX_VAULT_IDENTITY_PASSPHRASE=$IDPW run ls "$T/a.mv" --identity "$T/prot.id"
{ [ "$rc" -eq 0 ] && cmp -s "$T/out" "$T/ls-pw"; }
ok "ls with the second recipient's (protected) identity exits 0 and lists the same"
MBOX_VAULT_PASSPHRASE=$PW run cat "$T/a.mv" INBOX/2
{ [ "$rc" -eq 0 ] && cmp -s "$T/out" "$T/md/cur/2.a:2,RS"; }
ok "cat with MBOX_VAULT_PASSPHRASE gives the source bytes"
run cat "$T/a.mv" INBOX/2 --identity "$T/reader1.id"
{ [ "$rc" -eq 0 ] && cmp -s "$T/out" "$T/md/cur/2.a:2,RS"; }
ok "cat with a recipient's identity gives the source bytes"

# A protected identity without its passphrase, or with a wrong one.
run_notty ls "$T/a.mv" --identity "$T/prot.id"
expect_fail 3 'protected|passphrase' "a protected identity without its passphrase (no terminal): exit 3 with a message"
MBOX_VAULT_IDENTITY_PASSPHRASE=$IDWRONG run ls "$T/a.mv" --identity "$T/prot.id"
expect_fail 3 'wrong passphrase' "a protected identity with a wrong passphrase: exit 3, 'wrong passphrase'"
MBOX_VAULT_IDENTITY_PASSPHRASE=$IDWRONG run pull --identity "$T/prot.id" "maildir:$T/md" "$T/o.mv"
expect_fail 3 'wrong passphrase' "pull creating an archive owned by a protected identity with a wrong passphrase: exit 3"
check "... and no archive is written" [ ! -e "$T/o.mv" ]
run_notty pull --identity "$T/prot.id" "maildir:$T/md" "$T/o.mv"
expect_fail 3 'protected|passphrase' "the same without a passphrase and without a terminal: exit 3"
check "... and no archive is written" [ ! -e "$T/o.mv" ]
MBOX_VAULT_IDENTITY_PASSPHRASE=$IDPW run pull --identity "$T/prot.id" "maildir:$T/md" "$T/o.mv"
expect_rc 0 "pull creating an archive owned by the protected identity (right passphrase) exits 0"
run log "$T/o.mv"
check "its log shows the signer fingerprint keygen printed" grep -qx "signer  $PROT_FP" "$T/out"
sum=$(fsha "$T/o.mv")
MBOX_VAULT_IDENTITY_PASSPHRASE=$IDWRONG run pull --identity "$T/prot.id" "maildir:$T/md" "$T/o.mv"
expect_fail 3 'wrong passphrase' "pull into it with the identity's wrong passphrase: exit 3"
same "... and the archive is unchanged" "$T/o.mv" "$sum"

# ---- no secret on the command line ----
# Each command that opens keys, with "--passphrase X": exit 2, nothing written.
sum=$(fsha "$T/a.mv")
bad=
for cmd in "pull --passphrase $ARGVPW maildir:$T/md $T/new.mv" \
	"pull maildir:$T/md $T/a.mv --passphrase $ARGVPW" \
	"ls $T/a.mv --passphrase $ARGVPW" \
	"cat $T/a.mv INBOX/1 --passphrase $ARGVPW" \
	"export $T/a.mv --format maildir $T/exp --passphrase $ARGVPW" \
	"verify $T/a.mv --passphrase $ARGVPW" \
	"prove $T/a.mv INBOX/1 -o $T/proof --passphrase $ARGVPW" \
	"grant $T/a.mv --recipient $RG --passphrase $ARGVPW" \
	"keygen -o $T/new.id --passphrase $ARGVPW" \
	"--passphrase $ARGVPW ls $T/a.mv" \
	"ls $T/a.mv --identity-passphrase $ARGVPW"; do
	# shellcheck disable=SC2086
	run $cmd
	if [ "$rc" -ne 2 ] || ! grep -Eiq 'usage|unknown|option' "$T/err"; then
		bad="$bad [$(echo "$cmd" | cut -d' ' -f1): exit $rc]"
	fi
done
check "--passphrase X on the command line is refused with exit 2 and a usage message by pull, ls, cat, export, verify, prove, grant, keygen and as a global option ($bad)" [ -z "$bad" ]
{ [ ! -e "$T/new.mv" ] && [ ! -e "$T/exp" ] && [ ! -e "$T/proof" ] && [ ! -e "$T/new.id" ]; }
ok "... and nothing was written (no new archive, export, proof or identity)"
same "... and the archive is unchanged" "$T/a.mv" "$sum"
# "--passphrase=X": refused, and the value is not echoed back.
bad=
echoed=
i=0
for cmd in "pull --passphrase=$ARGVPW maildir:$T/md $T/new.mv" \
	"ls $T/a.mv --passphrase=$ARGVPW" \
	"cat $T/a.mv INBOX/1 --passphrase=$ARGVPW" \
	"export $T/a.mv --format maildir $T/exp --passphrase=$ARGVPW" \
	"verify $T/a.mv --passphrase=$ARGVPW" \
	"prove $T/a.mv INBOX/1 -o $T/proof --passphrase=$ARGVPW" \
	"grant $T/a.mv --recipient $RG --passphrase=$ARGVPW" \
	"keygen -o $T/new.id --passphrase=$ARGVPW" \
	"--passphrase=$ARGVPW ls $T/a.mv"; do
	i=$((i + 1))
	# Not through run: these outputs may hold ARGVPW, which is not a
	# secret the final scan looks for.
	# shellcheck disable=SC2086
	mvrun $cmd
	[ "$rc" -eq 2 ] || bad="$bad [$(echo "$cmd" | cut -d' ' -f1): exit $rc]"
	if grep -q -F -- "$ARGVPW" "$T/out" "$T/err"; then
		echoed="$echoed [$(echo "$cmd" | cut -d' ' -f1 | sed 's/=.*//'): $(grep -h -F -- "$ARGVPW" "$T/err" | head -1 | sed "s/$ARGVPW/<VALUE>/g")]"
	fi
done
check "--passphrase=X is refused with exit 2 by every command ($bad)" [ -z "$bad" ]
check "--passphrase=X: no error message echoes the value X ($echoed)" [ -z "$echoed" ]
same "... and the archive is unchanged" "$T/a.mv" "$sum"

# ---- empty and wrong keys ----
run pull --passphrase-file "$T/sec/empty" "maildir:$T/md" "$T/e.mv"
expect_fail 3 'empty' "creating an archive with an empty passphrase file: exit 3, 'empty'"
check "... and no archive is written" [ ! -e "$T/e.mv" ]
sum=$(fsha "$T/a.mv")
bad=
for cmd in "ls $T/a.mv" "cat $T/a.mv INBOX/1" "verify $T/a.mv" "prove $T/a.mv INBOX/1 -o $T/proof" \
	"export $T/a.mv --format mbox $T/exp.mbox" "pull maildir:$T/md $T/a.mv" \
	"grant $T/a.mv --recipient $RG"; do
	# shellcheck disable=SC2086
	run $cmd --passphrase-file "$T/sec/wrong"
	[ "$rc" -eq 3 ] && grep -Eiq 'key|passphrase' "$T/err" || bad="$bad [$(echo "$cmd" | cut -d' ' -f1): exit $rc]"
	# shellcheck disable=SC2086
	run $cmd --identity "$T/other.id"
	[ "$rc" -eq 3 ] && grep -Eiq 'key|passphrase|identity' "$T/err" || bad="$bad [$(echo "$cmd" | cut -d' ' -f1) --identity: exit $rc]"
done
MBOX_VAULT_PASSPHRASE=$WRONG run ls "$T/a.mv"
[ "$rc" -eq 3 ] || bad="$bad [ls, env: exit $rc]"
check "a wrong passphrase or an identity that is not a reader exits 3 with a key message for ls, cat, verify, prove, export, pull and grant ($bad)" [ -z "$bad" ]
same "... and the archive is unchanged (sha256)" "$T/a.mv" "$sum"
{ [ ! -e "$T/proof" ] && [ ! -e "$T/exp.mbox" ]; }
ok "... and no proof or export was written"

# ---- readers ----
sum=$(fsha "$T/a.mv")
run grant "$T/a.mv" --passphrase-file "$T/sec/pw" --recipient "$RG"
expect_rc 0 "grant --recipient with the owner's passphrase exits 0"
check "the archive grew (a STANZA record and a grant commit)" [ "$(fsha "$T/a.mv")" != "$sum" ]
run ls "$T/a.mv" --identity "$T/grant.id"
{ [ "$rc" -eq 0 ] && cmp -s "$T/out" "$T/ls-pw"; }
ok "the granted reader can ls (same listing)"
run cat "$T/a.mv" INBOX/3 --identity "$T/grant.id"
{ [ "$rc" -eq 0 ] && cmp -s "$T/out" "$T/md/new/3.a"; }
ok "the granted reader can cat (exact source bytes)"
run verify "$T/a.mv" --identity "$T/grant.id"
{ [ "$rc" -eq 0 ] && grep -q '^decrypted and checked 4 messages' "$T/out" && grep -q '^OK$' "$T/out"; }
ok "the granted reader can verify with its key (decrypts and checks 4 messages)"
sum=$(fsha "$T/a.mv")
printf 'Subject: new\n\nnew\n' >"$T/md/cur/4.a:2,"
run pull --identity "$T/grant.id" "maildir:$T/md" "$T/a.mv"
expect_fail 3 'owner' "the granted reader cannot pull: exit 3, needs the owner's key"
same "... and the archive is unchanged" "$T/a.mv" "$sum"
run grant "$T/a.mv" --identity "$T/grant.id" --recipient "$R1"
expect_fail 3 'owner' "the granted reader cannot grant: exit 3, needs the owner's key"
same "... and the archive is unchanged" "$T/a.mv" "$sum"
run pull --identity "$T/reader1.id" "maildir:$T/md" "$T/a.mv"
expect_fail 3 'owner' "a --recipient reader named at creation cannot pull either: exit 3"
same "... and the archive is unchanged" "$T/a.mv" "$sum"
rm "$T/md/cur/4.a:2,"
# A torn tail is not cut by someone without the key.  A copy of a.mv (now
# version 1 and a grant) without the last 10 bytes of the grant's COMMIT
# ends in a torn write after version 1.
head -c $(($(fsize "$T/a.mv") - 10)) "$T/a.mv" >"$T/torn.mv"
# (Its own state directory: the grant was seen here, so the copy is also a
# rollback.)
XDG_STATE_HOME=$T/xdg-torn
export XDG_STATE_HOME
run verify "$T/torn.mv"
expect_fail 5 'recoverable' "positive control: verify calls the cut copy a torn tail (exit 5)"
sum=$(fsha "$T/torn.mv")
run pull --passphrase-file "$T/sec/wrong" "maildir:$T/md" "$T/torn.mv"
expect_rc 3 "pull with a wrong passphrase onto an archive with a torn tail: exit 3"
same "... and the torn tail is still there (nothing cut or written)" "$T/torn.mv" "$sum"
unset XDG_STATE_HOME
rm -f "$T/torn.mv"
# The same with a copy of a 1-version archive whose only COMMIT lost its
# last 10 bytes: the state remembers version 1 of this archive ID, so the
# file is not a creation that was cut off and must not be started over
# (with the wrong key, or at all).
head -c $(($(fsize "$T/o.mv") - 10)) "$T/o.mv" >"$T/torn1.mv"
sum=$(fsha "$T/torn1.mv")
run pull --passphrase-file "$T/sec/wrong" "maildir:$T/md" "$T/torn1.mv"
check "pull with a wrong passphrase onto a 1-version archive (seen here) whose commit is cut is refused (exit $rc)" [ "$rc" -ne 0 ]
same "... and the file is not started over" "$T/torn1.mv" "$sum"
rm -f "$T/torn1.mv"

# ---- signer ----
run verify "$T/a.mv" --signer "$FP"
{ [ "$rc" -eq 0 ] && grep -q '(as required)' "$T/out"; }
ok "verify --signer with the archive's own fingerprint exits 0"
run verify "$T/a.mv" --signer "$OTHER_FP"
expect_fail 6 "not by the required $OTHER_FP" "verify --signer of another key: exit 6"
run verify "$T/o.mv" --signer "$FP"
expect_fail 6 'signed by|signer' "verify of the identity-owned archive with the passphrase archive's fingerprint: exit 6"

# ---- re-pull of an unchanged mailbox ----
size1=$(fsize "$T/a.mv")
MBOX_VAULT_PASSPHRASE=$PW run pull "maildir:$T/md" "$T/a.mv"
expect_rc 0 "a second pull of the unchanged Maildir (passphrase from the environment) exits 0"
check "it reports 'stored 0 new (0 bytes), 4 already in the archive'" \
	grep -q '^version 3: 2 folders, 4 messages .*stored 0 new (0 bytes), 4 already in the archive$' "$T/out"
rt=$("$PY" "$E2E/mvlib.py" record-types "$T/a.mv" "$size1")
types=$(echo "$rt" | sort | uniq -c | tr -s ' \n' ' ')
others=$(echo "$rt" | grep -vx -e INDEX_PAGE -e INDEX_ROOT -e COMMIT)
ncommit=$(echo "$rt" | grep -cx COMMIT)
{ [ -z "$others" ] && [ "$ncommit" -eq 1 ]; }
ok "it appends only INDEX_PAGE, INDEX_ROOT and one COMMIT record ($types)"
grow=$(($(fsize "$T/a.mv") - size1))
{ [ "$grow" -gt 0 ] && [ "$grow" -lt 20000 ]; }
ok "the archive grew by index and commit records only ($grow bytes, less than the 30 kB message)"
run ls "$T/a.mv" --passphrase-file "$T/sec/pw"
tail -n +2 "$T/ls-pw" >"$T/ls-v1.body"
tail -n +2 "$T/out" >"$T/ls-v3.body"
{ [ "$rc" -eq 0 ] && cmp -s "$T/ls-v1.body" "$T/ls-v3.body"; }
ok "the new version lists the same folders and messages (ls after its first line)"

# ---- rollback ----
STATE=$HOME/.local/state/mbox-vault
run pull --passphrase-file "$T/sec/pw" "maildir:$T/md" "$T/r.mv"
expect_rc 0 "pull creating the rollback test archive (version 1) exits 0"
cp -p "$T/r.mv" "$T/r-v1.mv"
printf 'Subject: later\n\nlater\n' >"$T/md/cur/5.a:2,"
run pull --passphrase-file "$T/sec/pw" "maildir:$T/md" "$T/r.mv"
expect_rc 0 "a second pull (version 2) exits 0"
rid=$(od -An -tx1 -j32 -N16 "$T/r.mv" | tr -d ' \n')
check "the state file $STATE/<archive ID> exists" [ -f "$STATE/$rid" ]
cp -p "$T/r.mv" "$T/r-v2.mv"
cp -p "$T/r-v1.mv" "$T/r.mv"
run ls "$T/r.mv" --passphrase-file "$T/sec/pw"
expect_fail 4 'rolled back' "ls of the archive put back to version 1: exit 4, 'rolled back'"
run log "$T/r.mv"
expect_fail 4 'rolled back' "log of the rolled-back archive: exit 4"
run verify "$T/r.mv"
expect_fail 4 'rolled back' "keyless verify of the rolled-back archive: exit 4"
sum=$(fsha "$T/r.mv")
run pull --passphrase-file "$T/sec/pw" "maildir:$T/md" "$T/r.mv"
expect_fail 4 'rolled back' "pull onto the rolled-back archive: exit 4"
same "... and it appends nothing" "$T/r.mv" "$sum"
run ls "$T/r.mv" --passphrase-file "$T/sec/pw"
expect_fail 4 'rolled back' "the refusal is remembered (a failed command does not reset the state)"
ssum=$(fsha "$STATE/$rid")
mkdir -p "$T/home2"
HOME=$T/home2 run ls "$T/r.mv" --passphrase-file "$T/sec/pw"
expect_rc 0 "with another HOME (no state) the old copy opens: nothing is claimed"
XDG_STATE_HOME=$T/xdg-empty run log "$T/r.mv"
expect_rc 0 "with an empty XDG_STATE_HOME the old copy opens"
env -u HOME -u XDG_STATE_HOME "$MV" log "$T/r.mv" >"$T/out" 2>"$T/err" </dev/null
rc=$?
no_crash "log without HOME"
{ [ "$rc" -eq 0 ] && ! grep -qi 'roll' "$T/err"; }
ok "without HOME and XDG_STATE_HOME, log of the old copy exits 0 and claims nothing ($rc)"
same "the commands run without the state left the remembered state (version 2) alone" "$STATE/$rid" "$ssum"
# A different version 2 on top of the old copy (made where the state does
# not know the archive): history rewritten.
XDG_STATE_HOME=$T/xdg-alt run pull --passphrase-file "$T/sec/pw" "maildir:$T/md" "$T/r.mv"
expect_rc 0 "a pull onto the old copy with another state directory makes another version 2"
check "the state goes to XDG_STATE_HOME when it is set (0600)" [ "$(fmode "$T/xdg-alt/mbox-vault/$rid")" = 600 ]
run ls "$T/r.mv" --passphrase-file "$T/sec/pw"
expect_fail 4 'rewritten|differs' "the rewritten version 2: exit 4, 'history was rewritten'"
cp -p "$T/r-v2.mv" "$T/r.mv"
run ls "$T/r.mv" --passphrase-file "$T/sec/pw"
expect_rc 0 "the genuine version 2 put back opens again"

# The same archive ID (test build, MV_TEST_SEED) signed by another key.
MV=$MV_TEST
export MV
MV_TEST_SEED=9 run pull --identity "$T/reader1.id" "maildir:$T/md" "$T/s1.mv"
expect_rc 0 "a test-build pull with MV_TEST_SEED=9 and one owner exits 0"
MV_TEST_SEED=9 XDG_STATE_HOME=$T/xdg-s2 run pull --identity "$T/other.id" "maildir:$T/md" "$T/s2.mv"
expect_rc 0 "the same with another owner (and another state directory) exits 0"
MV=$MV_ASAN
export MV
check "the two archives have the same archive ID (the test's premise)" \
	[ "$(od -An -tx1 -j32 -N16 "$T/s1.mv")" = "$(od -An -tx1 -j32 -N16 "$T/s2.mv")" ]
run verify "$T/s2.mv"
expect_fail 6 'now signed by' "an archive whose ID was last seen signed by another key: exit 6"

# ---- modes and secrets ----
bad=$(find "$T" -maxdepth 1 -name '*.mv' ! -perm 600)
check "every archive is 0600 under umask 000 ($bad)" [ -z "$bad" ]
bad=$(find "$T" -maxdepth 1 -name '*.id' ! -perm 600)
check "every identity file is 0600 ($bad)" [ -z "$bad" ]
bad=$(find "$HOME/.local/state" "$T/xdg-alt" \( -type d ! -perm 700 \) -o \( -type f ! -perm 600 \))
check "state directories are 0700 and state files 0600 ($bad)" [ -z "$bad" ]
bad=
for a in a o r s1; do
	[ -f "$STATE/$(od -An -tx1 -j32 -N16 "$T/$a.mv" | tr -d ' \n')" ] || bad="$bad $a.mv"
done
check "the state directory holds a file named by the archive ID of each archive opened here ($bad)" [ -z "$bad" ]
MBOX_VAULT_PASSPHRASE=$PW run prove "$T/a.mv" INBOX/1 -o "$T/a.proof"
{ [ "$rc" -eq 0 ] && [ "$(fmode "$T/a.proof")" = 600 ]; }
ok "a proof file is 0600"
MBOX_VAULT_PASSPHRASE=$PW run export "$T/a.mv" --format maildir "$T/exp-md"
bad=$(find "$T/exp-md" \( -type d ! -perm 700 \) -o \( -type f ! -perm 600 \))
{ [ "$rc" -eq 0 ] && [ -z "$bad" ]; }
ok "export writes directories 0700 and files 0600 under umask 000 ($rc $bad)"
hits=$(grep -l -a -F -e "$PW" -e "$WRONG" -e "$IDPW" -e "$IDWRONG" "$T/cmdout"/* 2>/dev/null)
check "no stdout or stderr of $n commands (errors included) shows a passphrase ($hits)" [ -z "$hits" ]
# The unprotected identities' secret keys (base64 in the file) either.
for x in reader1 grant other; do sed -n 's/^secret: //p' "$T/$x.id"; done >"$T/idsecrets"
hits=$(grep -l -a -F -f "$T/idsecrets" "$T/cmdout"/* 2>/dev/null)
nsec=$(wc -l <"$T/idsecrets")
{ [ -z "$hits" ] && [ "$nsec" -eq 3 ]; }
ok "no stdout or stderr shows an identity's secret key ($nsec searched; $hits)"
hits=$(grep -r -l -a -F -e "$PW" -e "$WRONG" -e "$IDPW" -e "$IDWRONG" "$T" 2>/dev/null | grep -v "^$T/sec/")
check "no file but the passphrase files holds a passphrase ($hits)" [ -z "$hits" ]
check "positive control: the search finds the passphrase in its file" grep -q -F "$PW" "$T/sec/pw"

finish
