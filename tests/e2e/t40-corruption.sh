#!/bin/sh
# t40-corruption: any single flipped byte of a committed archive is found.
#
# A small archive with two pulled versions and a grant (so it holds every
# record type: HEADER, CHUNK, INDEX_PAGE, INDEX_ROOT, STANZA, COMMIT), with
# 4 KiB chunks so that messages span several CHUNK records, gets >= 2000
# single-byte flips over the magic, every frame and trailer byte and
# payload bytes of every record.  Keyless verify must exit 4 or 6 (never 0,
# never 5, never crash) and name the record; a sanitizer-build sample of
# 200 flips does the same.  After flips inside CHUNK records, `cat` of an
# untouched message still returns its bytes and `cat` of the touched one
# fails.
. "$(dirname "$0")/lib.sh"
need_bin "$MV_ASAN" "$MV_TEST"
MBOX_VAULT_PASSPHRASE="corrupt-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
export MBOX_VAULT_PASSPHRASE

md=$T/md
mkdir -p "$md/cur" "$md/new" "$md/tmp" "$md/.A/cur" "$md/.B/cur" "$md/.B/new"
printf '0 Important\n' >"$md/.A/dovecot-keywords"
# Version 1: one message per folder, one of them over three chunks.
printf 'Subject: one\n\nhello\n' >"$md/cur/1.a:2,S"
{ printf 'Subject: big\n\n'; head -c 10000 /dev/urandom; } >"$md/.A/cur/1.a:2,Fa"
printf 'Subject: crlf\r\n\r\nbody\r\n' >"$md/.B/new/1.a"
mvrun_bin "$MV_ASAN" pull --chunk-size-log 12 "maildir:$md" "$T/a.mv"
expect_rc 0 "pull of version 1 (4 KiB chunks) exits 0"
# Version 2: one more message per folder (names sort after version 1's).
printf 'Subject: two\n\n%s\n' "$(head -c 3000 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$md/cur/2.b:2,RS"
printf 'Subject: two A\n\nx\n' >"$md/.A/cur/2.b:2,"
{ printf 'Subject: two B\n\n'; head -c 5000 /dev/urandom; } >"$md/.B/cur/2.b:2,T"
mvrun_bin "$MV_ASAN" pull "maildir:$md" "$T/a.mv"
expect_rc 0 "pull of version 2 exits 0"
mvrun_bin "$MV_ASAN" keygen --unprotected -o "$T/reader.id"
rcpt=$(sed -n 's/^recipient: //p' "$T/out")
mvrun_bin "$MV_ASAN" grant "$T/a.mv" --recipient "$rcpt"
expect_rc 0 "grant (a STANZA record and a grant commit) exits 0"

py corrupt.py "$T/a.mv" "$md" 2500 200 100

# A pull onto an archive whose newest index is damaged (one byte of its
# last INDEX_PAGE record): the previous versions load on a thread beside
# the source's start (src/pull_int.h), and their error must still stop
# the pull, named, before it writes anything.
cp "$T/a.mv" "$T/d.mv"
roff=$("$PY" "$E2E/mvlib.py" flip-last "$T/d.mv" INDEX_PAGE)
cp "$T/d.mv" "$T/d0.mv"
printf 'Subject: three\n\nx\n' >"$md/cur/3.c:2,"
mvrun_bin "$MV_ASAN" pull "maildir:$md" "$T/d.mv"
expect_rc 4 "pull onto an archive whose newest index page is damaged exits 4"
check "it names the damaged record by its offset" grep -q "index page record at offset $roff does not match its hash" "$T/err"
check "the archive is left as it was" cmp -s "$T/d.mv" "$T/d0.mv"
mvrun_bin "$MV_ASAN" pull "maildir:$T/no-such-maildir" "$T/d.mv"
expect_rc 4 "the damaged index is reported before a missing source (exit 4, not 12)"
check "the archive is still as it was" cmp -s "$T/d.mv" "$T/d0.mv"

finish
