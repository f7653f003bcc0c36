# lib.sh - shared plumbing for the end-to-end tests (sourced, POSIX sh).
#
# Every t*.sh sources this first:  . "$(dirname "$0")/lib.sh"
#
# It gives the script:
#  - $MV (the binary under test: $MV_ASAN unless MV is set), $MV_TEST,
#    $MV_RELEASE, $E2E (this directory), $PY (python3);
#  - $T, a private temp dir removed on exit; HOME and TMPDIR point into it,
#    so state files (~/.local/state/mbox-vault) and temp files stay inside;
#  - pass/fail helpers that print "PASS: ..." / "FAIL: ... (details)" and
#    count failures; `finish` exits non-zero when anything failed;
#  - mvrun: runs the binary with stdout/stderr captured in $T/out, $T/err
#    and its exit status in $rc, failing the test on any crash (status
#    >= 128) or sanitizer report;
#  - fresh_corpus: makes a mailbox with tests/e2e/corpus.py.
set -u

E2E=$(cd "$(dirname "$0")" && pwd)
: "${MV_TOP:=$(cd "$E2E/../.." && pwd)}"
: "${MV_ASAN:=$MV_TOP/build/asan/mbox-vault}"
: "${MV_TEST:=$MV_TOP/build/test/mbox-vault}"
: "${MV_RELEASE:=$MV_TOP/build/release/mbox-vault}"
MV=${MV:-$MV_ASAN}
PY=${PY:-python3}
export MV MV_TOP MV_ASAN MV_TEST MV_RELEASE
# Leaks count as failures, as in `make check`; a sanitizer report makes the
# binary abort so that it cannot pass unnoticed.
: "${ASAN_OPTIONS:=detect_leaks=1:abort_on_error=1}"
: "${UBSAN_OPTIONS:=print_stacktrace=1:halt_on_error=1}"
export ASAN_OPTIONS UBSAN_OPTIONS
# Dates in listings, tar and zip members are compared in UTC.
TZ=UTC
export TZ
# Cheap passphrase stanzas in test builds (the release binary ignores it).
MV_TEST_ARGON_KIB=8192
export MV_TEST_ARGON_KIB
unset MBOX_VAULT_PASSPHRASE MBOX_VAULT_IDENTITY_PASSPHRASE XDG_STATE_HOME \
	MV_TEST_CRASH_WRITES MV_TEST_SEED MV_TEST_TIME 2>/dev/null || true

T=$(mktemp -d "${TMPDIR:-/tmp}/mv-e2e.XXXXXX") || { echo "FAIL: mktemp -d"; exit 1; }
cleanup() {
	chmod -R u+rwx "$T" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$T/home" "$T/tmp"
HOME=$T/home
TMPDIR=$T/tmp
export HOME TMPDIR
cd "$T" || exit 1

nfail=0
npass=0
pass() { npass=$((npass + 1)); echo "PASS: $*"; }
fail() { nfail=$((nfail + 1)); echo "FAIL: $*"; }
# check NAME CMD...: PASS if CMD succeeds, else FAIL.
check() {
	_n=$1; shift
	if "$@"; then pass "$_n"; else fail "$_n"; fi
}

# The binaries must exist: a test that cannot run counts as failed.
need_bin() {
	for _b in "$@"; do
		if [ ! -x "$_b" ]; then
			fail "binary $_b is built (cannot run this test without it)"
			finish
		fi
	done
}

# san_report FILE: true if FILE holds a sanitizer report.
san_report() {
	grep -Eq 'ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer)|runtime error:|SUMMARY: (Address|Leak|UndefinedBehavior)Sanitizer' "$1"
}

# mvrun ARGS...: runs "$MV" ARGS with stdout in $T/out and stderr in $T/err;
# $rc is its status.  A crash or a sanitizer report is a failure in itself
# (named after the command), whatever the caller expects of $rc.
mvrun() {
	"$MV" "$@" >"$T/out" 2>"$T/err" </dev/null
	rc=$?
	no_crash "$*"
}
# mvrun_bin BIN ARGS...: same with another binary.
mvrun_bin() {
	_bin=$1; shift
	"$_bin" "$@" >"$T/out" 2>"$T/err" </dev/null
	rc=$?
	no_crash "$*"
}
# no_crash WHAT: fails (and returns 1) when $rc >= 128 or $T/err holds a
# sanitizer report.
no_crash() {
	if [ "$rc" -ge 128 ] || san_report "$T/err"; then
		fail "mbox-vault $1: no crash or sanitizer report (exit $rc: $(grep -m3 -E 'ERROR:|runtime error|SUMMARY' "$T/err" | tr '\n' ' '))"
		return 1
	fi
	return 0
}

# expect_rc WANT NAME: PASS/FAIL on $rc == WANT, with stderr as detail.
expect_rc() {
	if [ "$rc" -eq "$1" ]; then
		pass "$2"
	else
		fail "$2 (exit $rc, want $1: $(head -c 300 "$T/err" | tr '\n' ' '))"
	fi
}

# py SCRIPT ARGS...: runs a python helper whose output is PASS/FAIL lines;
# counts its FAIL lines.  A helper that dies without saying why fails too.
py() {
	_s=$1; shift
	"$PY" "$E2E/$_s" "$@" >"$T/py.out" 2>"$T/py.err"
	_prc=$?
	cat "$T/py.out"
	_pf=$(grep -c '^FAIL: ' "$T/py.out")
	_pp=$(grep -c '^PASS: ' "$T/py.out")
	nfail=$((nfail + _pf))
	npass=$((npass + _pp))
	if [ "$_prc" -ne 0 ] && [ "$_pf" -eq 0 ]; then
		fail "$_s ran to the end (exit $_prc: $(tail -5 "$T/py.err" | tr '\n' ' '))"
	fi
	return "$_prc"
}

# fresh_corpus KIND DEST [options]: makes a mailbox with corpus.py (see its
# --help): KIND is hostile-maildir, mbox, small, markers or big-message.
fresh_corpus() {
	_k=$1; _d=$2; shift 2
	rm -rf "$_d"
	"$PY" "$E2E/corpus.py" "$_k" "$_d" "$@" || {
		fail "corpus.py $_k $_d made a corpus"
		return 1
	}
}

# fsize FILE: its size in bytes.
fsize() { wc -c <"$1" | tr -d ' '; }
# fmode FILE: its permission bits in octal (e.g. 600).
fmode() { stat -c %a "$1"; }

finish() {
	echo "# $(basename "$0"): $npass passed, $nfail failed"
	[ "$nfail" -eq 0 ] && exit 0
	exit 1
}
