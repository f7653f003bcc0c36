#!/bin/sh
# t30-crash: a pull killed at any write leaves every committed version
# readable, a torn tail that verify calls recoverable, and an archive the
# next pull completes (format-spec section 10).
#
# 1. ~200 small messages in 3 folders make version 1; 480 incompressible
#    64 kB messages are added; the second pull (--checkpoint-mb 1, so it
#    writes ~30 partial checkpoints) is killed at every one of its write
#    calls (MV_TEST_CRASH_WRITES=N, test build), then once more without
#    checkpoints, and a creating pull at each of its writes.
# 2. The same checks after kill -9 of a sanitizer-build pull at random times.
# 3. A 2-version archive cut at every byte offset: `log` never crashes and
#    shows exactly the versions wholly before the cut.
. "$(dirname "$0")/lib.sh"
need_bin "$MV" "$MV_TEST"
MBOX_VAULT_PASSPHRASE="crash-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
export MBOX_VAULT_PASSPHRASE
mkdir -p "$T/work"

fresh_corpus small "$T/md" --count 200 --folders 3 || finish
cp -r "$T/md" "$T/md-v1"
mvrun pull "maildir:$T/md" "$T/v1.mv"
expect_rc 0 "pull of 200 messages in 3 folders (version 1) exits 0"
cp -r "$HOME/.local/state" "$HOME/state-v1"
"$PY" "$E2E/corpus.py" small "$T/md" --add --count 480 --random --size 65536 --seed 2 ||
	fail "corpus.py adds 480 messages"

# The crash points below are only meaningful if a test-build pull writes the
# same bytes each time (format-spec P11: MV_TEST_SEED and MV_TEST_TIME make
# archives reproducible), partial checkpoints included.
sums=
for i in 1 2 3; do
	rm -f "$T/work/repro.mv"
	MV_TEST_SEED=7 MV_TEST_TIME=1700000000 XDG_STATE_HOME="$T/work/st$i" \
		"$MV_TEST" pull --checkpoint-mb 1 "maildir:$T/md" "$T/work/repro.mv" >"$T/out" 2>&1
	sums="$sums $(cksum <"$T/work/repro.mv" | cut -d' ' -f1):$(head -c 12 "$T/out" | tr -d ' :')"
done
set -- $sums
check "three test-build pulls with MV_TEST_SEED, MV_TEST_TIME and --checkpoint-mb 1 write identical archives (cksum:version$sums)" \
	[ "$1" = "$2" -a "$2" = "$3" ]
rm -rf "$T/work/repro.mv" "$T/work"/st?

py crash.py sweep "$T/v1.mv" "$T/md" "$T/md-v1" "$T/work" --checkpoint-mb 1
py crash.py sweep "$T/v1.mv" "$T/md" "$T/md-v1" "$T/work"
py crash.py sweep - "$T/md-v1" - "$T/work"
py crash.py timed "$T/v1.mv" "$T/md" "$T/md-v1" "$T/work" 5

# A small archive of 2 versions (one short message each), cut everywhere.
rm -rf "$HOME/.local/state"
mkdir -p "$T/tiny/cur" "$T/tiny/new" "$T/tiny/tmp"
printf 'Subject: 1\n\none\n' >"$T/tiny/cur/1.a:2,S"
mvrun pull "maildir:$T/tiny" "$T/tiny.mv"
expect_rc 0 "pull of a 1-message Maildir exits 0"
printf 'Subject: 2\n\ntwo\n' >"$T/tiny/new/2.b"
mvrun pull "maildir:$T/tiny" "$T/tiny.mv"
expect_rc 0 "a second pull (version 2) exits 0"
py crash.py truncate "$T/tiny.mv"

finish
