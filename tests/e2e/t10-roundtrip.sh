#!/bin/sh
# t10-roundtrip: every message comes back exactly as the source held it.
#
# A Maildir++ corpus with hostile bytes (bare LF, CRLF, bare CR, NUL, 8-bit,
# 100 kB lines, an empty message, "From " at line starts, a 50 MB message),
# modified UTF-7 and nested folder names, all six system flags and 26
# keywords is pulled; `ls` and `cat` of every message, and exports to
# maildir, mbox, tar and zip, are compared with Python reading the source
# files.  An mbox corpus written by Python's mailbox.mbox (hostile bytes,
# 30+ X-Keywords, a message over 8 MiB) is pulled as mboxrd and as mboxo
# and compared with Python's mailbox.mbox get_bytes().
. "$(dirname "$0")/lib.sh"
need_bin "$MV" "$MV_TEST"
MBOX_VAULT_PASSPHRASE="roundtrip-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
export MBOX_VAULT_PASSPHRASE

# ---- Maildir++ ----
fresh_corpus hostile-maildir "$T/md" || finish
mvrun pull "maildir:$T/md" "$T/md.mv"
expect_rc 0 "pull maildir: of a hostile Maildir++ corpus exits 0"
counts=$("$PY" -c 'import sys; sys.path.insert(0, sys.argv[1]); import mvlib
f = mvlib.read_maildir(sys.argv[2]); print(len(f), sum(len(x["messages"]) for x in f))' "$E2E" "$T/md")
set -- $counts
check "pull reports the $1 folders and $2 messages Python counts" \
	grep -q "^version 1: $1 folders, $2 messages" "$T/out"
nf=$(($1 + 1)) nm=$(($2 + 1))

# The 50 MB message is pulled by the test-hook build (no sanitizer: speed);
# every read of it below is by the sanitizer build.
"$PY" "$E2E/corpus.py" big-message "$T/md" || fail "corpus.py big-message"
mvrun_bin "$MV_TEST" pull "maildir:$T/md" "$T/md.mv"
expect_rc 0 "a second pull adding a 50 MB message exits 0"
check "the second pull stores only the new message" \
	grep -q "^version 2: $nf folders, $nm messages .*stored 1 new (50000000 bytes), $2 already" "$T/out"

py roundtrip.py ls-cat-maildir "$T/md" "$T/md.mv"
py roundtrip.py export-maildir "$T/md" "$T/md.mv" "$T/exp-md"
rm -rf "$T/exp-md"

# ---- mbox ----
fresh_corpus mbox "$T/box" --large || finish
mvrun pull "mbox:$T/box" "$T/rd.mv"
expect_rc 0 "pull mbox: (mboxrd, the default) exits 0"
mvrun pull --mbox-format mboxo "mbox:$T/box" "$T/o.mv"
expect_rc 0 "pull mbox: --mbox-format mboxo exits 0"
py roundtrip.py ls-cat-mbox "$T/box" "$T/o.mv" mboxo
py roundtrip.py ls-cat-mbox "$T/box" "$T/rd.mv" mboxrd
py roundtrip.py export-mbox "$T/box" "$T/rd.mv" "$T/exp-box"

finish
