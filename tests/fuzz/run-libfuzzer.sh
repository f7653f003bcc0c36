#!/bin/sh
# `make fuzz`: builds every tests/fuzz/fuzz_*.c with clang's libFuzzer,
# ASan and UBSan (the library compiled with coverage), and runs each for
# $1 seconds (default 60) starting from its committed corpus.  New inputs
# go to build/fuzz-work/NAME; crashes are left in build/fuzz-work as
# crash-*: add them to tests/fuzz/corpus/NAME once fixed.
set -eu
secs=${1:-60}
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
out=build/fuzz
mkdir -p "$out" build/fuzz-work
flags="-g -O1 -std=c11 -D_GNU_SOURCE -Isrc -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all"
libs="$(pkg-config --libs libsodium libzstd libcurl libarchive openssl) -pthread"
objs=""
for c in $(ls src/*.c | grep -v -e 'src/main.c' -e 'src/cmd_' -e 'src/cli_'); do
	o="$out/$(basename "$c" .c).o"
	clang $flags $(pkg-config --cflags libsodium libzstd libarchive) -c "$c" -o "$o"
	objs="$objs $o"
done
status=0
for t in tests/fuzz/fuzz_*.c; do
	name=$(basename "$t" .c)
	clang $flags -fsanitize=fuzzer "$t" $objs $libs -o "$out/$name"
	mkdir -p "build/fuzz-work/$name"
	echo "== $name for ${secs}s"
	if ! (cd build/fuzz-work && "../../$out/$name" -max_total_time="$secs" \
		-timeout=10 -rss_limit_mb=4096 "$name" "../../tests/fuzz/corpus/$name"); then
		echo "FAIL: $name found a crash (see build/fuzz-work)"
		status=1
	fi
done
exit $status
