#!/bin/sh
# t45-local-push: push into local Maildir and mbox targets, and verify
# --against them (README "Push", local targets).
#
# A Maildir++ corpus with hostile bytes, flags and the 26 keywords a
# folder can hold is pulled, then pushed into a Maildir and into mbox
# files; Python (localpush.py, mvlib.py: the standard library, not
# mbox-vault) checks every message's bytes, flags, keywords and mtime, or
# its mbox bytes and From_ line date.  Push twice, push into a target that
# already holds half the messages (copied by hand), and push killed at
# several writes (MV_TEST_CRASH_WRITES, test build) then rerun: each time
# every message is there exactly once, and a torn mbox tail is cut.  A 27th
# keyword in a folder is reported and the exit status is 10.  verify
# --against catches a deleted, an altered, an extra message and a changed
# flag (exit 4) and matches a clean push (exit 0), for Maildir and mbox.
. "$(dirname "$0")/lib.sh"
need_bin "$MV" "$MV_TEST"
MBOX_VAULT_PASSPHRASE="localpush-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
export MBOX_VAULT_PASSPHRASE
lp() { py localpush.py "$@"; }

fresh_corpus hostile-maildir "$T/md" || finish
mvrun pull "maildir:$T/md" "$T/a.mv"
expect_rc 0 "pull of the hostile Maildir++ corpus exits 0"
set -- $("$PY" -c 'import sys; sys.path.insert(0, sys.argv[1]); import mvlib
f = mvlib.read_maildir(sys.argv[2]); print(sum(len(x["messages"]) for x in f), len(f))' "$E2E" "$T/md")
n=$1 nfold=$2

# ---- Maildir: round trip, twice, dry run ----
mvrun push --dry-run "$T/a.mv" "maildir:$T/dry"
expect_rc 0 "push --dry-run into a Maildir exits 0"
check "push --dry-run says $n messages would be appended" \
	grep -q "^dry run, version 1: $n messages would be appended, 0 already" "$T/out"
check "push --dry-run writes nothing" [ ! -e "$T/dry" ]

mvrun push "$T/a.mv" "maildir:$T/tgt"
expect_rc 0 "push maildir: exits 0"
check "push maildir: reports $n messages appended" \
	grep -q "^version 1: $n messages appended, 0 already on the target" "$T/out"
lp maildir-same "$T/md" "$T/tgt" "push maildir:"
bad=$(find "$T/tgt" \( -type f ! -perm 600 \) -o \( -type d ! -perm 700 \) | head -3)
check "push maildir: writes files 0600 and directories 0700 ($bad)" [ -z "$bad" ]
mvrun push "$T/a.mv" "maildir:$T/tgt"
expect_rc 0 "a second push maildir: exits 0"
check "the second push finds all $n messages present and appends none" \
	grep -q "^version 1: 0 messages appended, $n already on the target" "$T/out"
lp maildir-same "$T/md" "$T/tgt" "after pushing twice"
mvrun --log-json push "$T/a.mv" "maildir:$T/tgt"
check "push --log-json: one JSON object per folder and a done object with the counts" \
	"$PY" -c "import json,sys
o=[json.loads(l) for l in open(sys.argv[1]) if l.strip()]
f=[x for x in o if x.get('event')=='folder']; d=[x for x in o if x.get('event')=='done']
sys.exit(0 if len(f)==$nfold and len(d)==1 and d[0]['present']==$n and d[0]['appended']==0 and
         all(x['present']==x['messages'] and x['path'] is not None for x in f) else 1)" "$T/err"

mvrun verify "$T/a.mv" --against "maildir:$T/tgt"
expect_rc 0 "verify --against maildir: after a clean push exits 0"
check "verify --against maildir: says the target matches" \
	grep -q "^the target matches version 1" "$T/out"

# ---- Maildir: half of it already there (copied by hand) ----
half=$("$PY" "$E2E/localpush.py" copy-some "$T/md" "$T/half")
mvrun push "$T/a.mv" "maildir:$T/half"
expect_rc 0 "push into a Maildir already holding $half messages exits 0"
check "push appends only the $((n - half)) messages missing" \
	grep -q "^version 1: $((n - half)) messages appended, $half already on the target" "$T/out"
lp maildir-same "$T/md" "$T/half" "push into a half-filled Maildir" bytes

# ---- Maildir: killed at a write, then run again ----
for w in 0 5 21; do
	rm -rf "$T/crash"
	MV_TEST_CRASH_WRITES=$w "$MV_TEST" push "$T/a.mv" "maildir:$T/crash" >"$T/out" 2>"$T/err"
	rc=$?
	check "push maildir: killed at write $w dies by SIGKILL (exit $rc)" [ "$rc" -eq 137 ]
	mvrun push "$T/a.mv" "maildir:$T/crash"
	expect_rc 0 "push maildir: rerun after the kill at write $w exits 0"
	lp maildir-same "$T/md" "$T/crash" "killed at write $w, then rerun"
done

# ---- Maildir: --folder, --exclude, --map ----
mvrun push "$T/a.mv" "maildir:$T/sel" --folder 'Archive*' --exclude 'Archive/%' \
	--map 'Archive=Old/Kept'
expect_rc 0 "push --folder --exclude --map exits 0"
check "--folder/--exclude pick one folder, --map puts it under .Old.Kept" \
	sh -c "[ -d '$T/sel/.Old.Kept/cur' ] && [ ! -e '$T/sel/.Archive' ] && [ ! -e '$T/sel/.Old.Kept.2024' ] && [ \$(ls '$T/sel/.Old.Kept/cur' | wc -l) -eq 3 ]"
mvrun verify "$T/a.mv" --against "maildir:$T/sel" --folder Archive --map 'Archive=Old/Kept'
expect_rc 0 "verify --against with the same --folder and --map matches (exit 0)"

# ---- Maildir: the 27th keyword of a folder ----
"$PY" "$E2E/localpush.py" keywords27 "$T/kw.mbox"
mvrun pull "mbox:$T/kw.mbox" "$T/kw.mv"
expect_rc 0 "pull of an mbox whose messages carry 27 keywords exits 0"
mvrun push "$T/kw.mv" "maildir:$T/kw"
expect_rc 10 "push maildir: of a folder with 27 keywords exits 10 (partial)"
check "the 27th keyword is reported by name with the 26-keyword limit" \
	grep -q "keyword 'kw27' of message .* left out: a Maildir folder holds at most 26 keywords" "$T/err"
check "the push report counts 1 keyword dropped" \
	grep -q "^version 1: 2 messages appended, 0 already on the target, 1 keywords dropped" "$T/out"
check "dovecot-keywords holds 26 keywords" [ "$(wc -l <"$T/kw/dovecot-keywords")" -eq 26 ]
mvrun push "$T/kw.mv" "maildir:$T/kw"
expect_rc 0 "pushing it again appends nothing and drops nothing (exit 0)"
mvrun verify "$T/kw.mv" --against "maildir:$T/kw" --json
expect_rc 4 "verify --against reports the message without its 27th keyword (exit 4)"
lp verify-json "$T/out" flags=1 missing=0 extra=0 altered=0

# ---- Maildir: verify --against catches what changed ----
"$PY" "$E2E/localpush.py" tamper-maildir "$T/tgt" >"$T/tamper" || fail "tamper-maildir ran"
mvrun verify "$T/a.mv" --against "maildir:$T/tgt" --json
expect_rc 4 "verify --against maildir: of a tampered target exits 4 ($(cat "$T/tamper"))"
lp verify-json "$T/out" match=false missing=1 altered=1 extra=1 flags=1 dates=0
mvrun verify "$T/a.mv" --against "maildir:$T/tgt"
expect_rc 4 "verify --against maildir: (text) exits 4 too"
check "the text report counts the differences of INBOX" \
	grep -q "^  INBOX -> INBOX \[.\]: [0-9]* messages, [0-9]* match, 1 MISSING, 1 ALTERED, 1 EXTRA, 1 with other flags$" "$T/out"
check "the text report says the target differs" grep -q "^the target DIFFERS from version 1" "$T/out"
for f in "$T"/tgt/.Archive/cur/*; do touch -d "2001-02-03 04:05:06" "$f"; break; done
mvrun verify "$T/a.mv" --against "maildir:$T/tgt" --json
expect_rc 4 "verify --against maildir: with one mtime changed exits 4"
lp verify-json "$T/out" dates=1 missing=1 altered=1 extra=1 flags=1

# ---- mbox ----
mvrun push "$T/a.mv" "mbox:$T/box"
expect_rc 0 "push mbox: exits 0"
lp mbox-same "$T/md" "$T/box" "push mbox:"
mvrun push "$T/a.mv" "mbox:$T/box"
expect_rc 0 "a second push mbox: exits 0"
check "the second push mbox: appends none of the $n messages" \
	grep -q "^version 1: 0 messages appended, $n already on the target" "$T/out"
lp mbox-same "$T/md" "$T/box" "after pushing twice"
mvrun verify "$T/a.mv" --against "mbox:$T/box"
expect_rc 0 "verify --against mbox: after a clean push exits 0"
mvrun export "$T/a.mv" --format mbox "$T/box"
check "export still refuses to append to an existing mbox file (exit $rc)" \
	sh -c "[ $rc -ne 0 ] && grep -q 'already exists' '$T/err'"

# An mbox that holds some of the messages (an earlier push of one folder).
mvrun push "$T/a.mv" "mbox:$T/box2" --folder INBOX
mvrun push "$T/a.mv" "mbox:$T/box2"
expect_rc 0 "push mbox: into files holding part of the version exits 0"
lp mbox-same "$T/md" "$T/box2" "push mbox: after a push of INBOX only"

# Killed in the middle of a message: the rerun cuts the torn tail.
# (Write 1 ends between two messages; 9 and 40 inside a large one.)
cuts=0
for w in 1 9 40; do
	rm -rf "$T/mcrash"
	MV_TEST_CRASH_WRITES=$w "$MV_TEST" push "$T/a.mv" "mbox:$T/mcrash" >"$T/out" 2>"$T/err"
	rc=$?
	check "push mbox: killed at write $w dies by SIGKILL (exit $rc)" [ "$rc" -eq 137 ]
	mvrun push "$T/a.mv" "mbox:$T/mcrash"
	expect_rc 0 "push mbox: rerun after the kill at write $w exits 0"
	grep -q "cut [0-9]* bytes at offset" "$T/err" && cuts=$((cuts + 1))
	lp mbox-same "$T/md" "$T/mcrash" "mbox killed at write $w, then rerun"
	check "no push record is left in the target" \
		sh -c "! ls -a '$T/mcrash' | grep -q mbox-vault-push"
done
check "reruns said they cut a half-written message ($cuts of 3)" [ "$cuts" -ge 1 ]
# Without push's record the torn tail is not push's to cut: refused.
rm -rf "$T/mcrash"
MV_TEST_CRASH_WRITES=9 "$MV_TEST" push "$T/a.mv" "mbox:$T/mcrash" >"$T/out" 2>"$T/err"
rm -f "$T"/mcrash/.mbox-vault-push-*
mvrun push "$T/a.mv" "mbox:$T/mcrash"
check "without the record, a file whose last line has no end is refused, not cut (exit $rc)" \
	sh -c "[ $rc -eq 11 ] && grep -q 'its last line has no line end' '$T/err'"

"$PY" "$E2E/localpush.py" tamper-mbox "$T/box/INBOX.mbox" >"$T/tamper" || fail "tamper-mbox ran"
mvrun verify "$T/a.mv" --against "mbox:$T/box" --json
expect_rc 4 "verify --against mbox: of a tampered file exits 4 ($(cat "$T/tamper"))"
lp verify-json "$T/out" match=false missing=1 altered=1 extra=1 flags=0 dates=1
printf 'not an mbox\n' >"$T/box/Archive.mbox"
mvrun push "$T/a.mv" "mbox:$T/box" --folder Archive
check "push mbox: into a file that is not an mbox fails as malformed input (exit $rc)" \
	sh -c "[ $rc -eq 11 ]"

# ---- no plaintext anywhere but the targets named ----
fresh_corpus markers "$T/mk/src" --markers "$T/mk/markers.txt" || finish
mvrun pull "maildir:$T/mk/src" "$T/mk.mv"
mvrun push "$T/mk.mv" "maildir:$T/mk/tmd"
expect_rc 0 "push maildir: of the marker corpus exits 0"
MV_TEST_CRASH_WRITES=3 "$MV_TEST" push "$T/mk.mv" "mbox:$T/mk/tbox" >/dev/null 2>&1
rec=$(ls "$T/mk/tbox"/.mbox-vault-push-* 2>/dev/null)
check "a push killed while appending leaves its record: size, device, inode and nothing else" \
	sh -c "[ \"\$(cat $rec)\" = \"\$(grep -x 'mbox-vault push 1 [0-9]* [0-9]* [0-9]*' $rec)\" ] && [ \$(wc -l <$rec) -eq 1 ]"
cp $rec "$T/mk/record" 2>/dev/null
mvrun push "$T/mk.mv" "mbox:$T/mk/tbox"
expect_rc 0 "push mbox: of the marker corpus (after a kill) exits 0"
mvrun verify "$T/mk.mv" --against "maildir:$T/mk/tmd"
mvrun verify "$T/mk.mv" --against "mbox:$T/mk/tbox"
check "the markers are in both targets (the search works)" \
	sh -c "grep -r -q -F -f '$T/mk/markers.txt' '$T/mk/tmd' && grep -r -q -F -f '$T/mk/markers.txt' '$T/mk/tbox'"
hits=$(grep -r -a -l -F -f "$T/mk/markers.txt" "$T/home" "$T/tmp" "$T/mk.mv" "$T/mk/record" 2>/dev/null)
check "no marker is in HOME (state directory), TMPDIR, the archive or the push record ($hits)" [ -z "$hits" ]
check "push wrote nothing in the target's parent but the targets" \
	[ "$(ls "$T/mk" | tr '\n' ' ')" = "markers.txt record src tbox tmd " ]

finish
