#!/bin/sh
# The test runner behind `make check`: builds the release, test-hook and
# sanitizer binaries, then runs unit tests, fuzz-corpus replays, vectors and
# end-to-end tests.  Every check prints "PASS: name" or "FAIL: name"; the
# last line is "N passed, N failed".  A skipped test counts as failed.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
J=${JOBS:-2}
log=$(mktemp -d /tmp/mv-check.XXXXXX)
out="$log/results"
: > "$out"

say() { echo "$*" | tee -a "$out"; }

build() {
	if make -j"$J" "$@" >"$log/build.log" 2>&1; then
		say "PASS: build $*"
	else
		tail -40 "$log/build.log"
		say "FAIL: build $*"
	fi
}

build all
build TESTHOOKS=1 tools
build SANITIZE=1 tools

run_capture() { # name, command...
	name=$1; shift
	if "$@" >"$log/cur" 2>&1; then rc=0; else rc=$?; fi
	grep -E '^(PASS|FAIL): ' "$log/cur" | sed -E "s#^(PASS|FAIL): #\1: $name: #" | tee -a "$out"
	if [ $rc -ne 0 ] && ! grep -q '^FAIL: ' "$log/cur"; then
		tail -20 "$log/cur"
		say "FAIL: $name exited with status $rc"
	fi
}

# Unit tests, plain and under ASan + UBSan.
for b in build/release build/asan; do
	for t in $b/unit/test_*; do
		[ -x "$t" ] || continue
		case $t in *test_merkle_vectors) run_capture "$t" "$t" vectors/merkle ;;
		*) run_capture "$t" "$t" ;; esac
	done
done

# Every fuzz target replays its committed corpus under the sanitizers.
for r in build/asan/fuzz/*-replay; do
	[ -x "$r" ] || continue
	name=$(basename "$r" -replay)
	if [ -d "tests/fuzz/corpus/$name" ] && "$r" "tests/fuzz/corpus/$name" >"$log/cur" 2>&1; then
		say "PASS: fuzz replay $name ($(tail -1 "$log/cur"))"
	else
		tail -20 "$log/cur"
		say "FAIL: fuzz replay $name"
	fi
done

# Archive vectors and end-to-end tests drive the binaries.
export MV_TOP="$top"
export MV_ASAN="$top/build/asan/mbox-vault"
export MV_TEST="$top/build/test/mbox-vault"
export MV_RELEASE="$top/build/release/mbox-vault"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# Two lanes run side by side (the tests wait on servers and processes as
# much as they compute); each test's output is reported in list order.
# t30-crash alone takes about as long as all the others together (13 min
# against 14 in a fresh clone of 2026-11-30): lane 0 runs it and the tests
# listed in LANE0, lane 1 everything else.
LANE0="tests/e2e/t30-crash.sh tests/e2e/t10-roundtrip.sh tests/e2e/t20-noplaintext.sh"
all=""
for t in tests/e2e/t30-crash.sh tests/vectors/run.sh tests/e2e/t10-roundtrip.sh \
	 tests/imap/t20-pull.sh tests/e2e/t50-proofs.sh tests/e2e/t40-corruption.sh \
	 tests/imap/t40-push.sh tests/e2e/t20-noplaintext.sh tests/imap/t-transport.sh \
	 tests/e2e/t60-keys.sh tests/e2e/t*.sh tests/imap/t*.sh; do
	[ -f "$t" ] || continue
	case " $all " in *" $t "*) continue ;; esac
	all="$all $t"
done
lane() { # which (0 or 1)
	for t in $all; do
		case " $LANE0 " in *" $t "*) l=0 ;; *) l=1 ;; esac
		if [ "$l" -eq "$1" ]; then
			n=$(echo "$t" | tr '/' '_')
			t0=$(date +%s)
			if sh "$t" >"$log/$n.out" 2>&1; then echo 0; else echo $?; fi >"$log/$n.rc"
			echo "$(($(date +%s) - t0))" >"$log/$n.secs"
		fi
	done
}
lane 0 &
lane0=$!
lane 1
wait $lane0
for t in $all; do
	n=$(echo "$t" | tr '/' '_')
	name=$(basename "$t" .sh)
	cp "$log/$n.out" "$log/cur"
	rc=$(cat "$log/$n.rc" 2>/dev/null || echo 1)
	echo "# $name: $(cat "$log/$n.secs" 2>/dev/null || echo '?') s"
	grep -E '^(PASS|FAIL): ' "$log/cur" | sed -E "s#^(PASS|FAIL): #\1: $name: #" | tee -a "$out"
	if [ "$rc" -ne 0 ] && ! grep -q '^FAIL: ' "$log/cur"; then
		tail -20 "$log/cur"
		say "FAIL: $name exited with status $rc"
	fi
done

passed=$(grep -c '^PASS: ' "$out")
failed=$(grep -c '^FAIL: ' "$out")
echo
grep '^FAIL: ' "$out" || true
echo "$passed passed, $failed failed"
rm -rf "$log"
[ "$failed" -eq 0 ]
