#!/bin/sh
# tests/vectors/run.sh - runs the archive vectors in vectors/archive
# (format of the .meta files: vectors/README.md).  tests/run.sh calls it
# with MV_TOP, MV_TEST (build/test/mbox-vault), MV_ASAN and MV_RELEASE set;
# it also runs on its own from a built tree.
#
#  - every check of every good vector, with the release and the sanitizer
#    binaries;
#  - every check of every bad vector, with the sanitizer binary (a crash
#    or a leak changes the exit status, so it fails the check);
#  - the append-only prefixes of the good archives, the rollback state,
#    and reproducible pulls;
#  - tests/vectors/gen.sh into a temporary directory: every generated file
#    must be byte-identical to the committed one (the format did not drift
#    and generation is deterministic).
# One "PASS: name" / "FAIL: name" line per check; exits 1 if any failed.
# (The Merkle vectors in vectors/merkle run as tests/unit/test_merkle_vectors.)
set -u
top=${MV_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
REL=${MV_RELEASE:-$top/build/release/mbox-vault}
ASAN=${MV_ASAN:-$top/build/asan/mbox-vault}
TEST=${MV_TEST:-$top/build/test/mbox-vault}
dir="$top/vectors/archive"
tmp=$(mktemp -d /tmp/mv-vectors.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
unset MBOX_VAULT_PASSPHRASE MBOX_VAULT_IDENTITY_PASSPHRASE MV_TEST_SEED MV_TEST_TIME \
	MV_TEST_ARGON_KIB MV_TEST_CRASH_WRITES
export HOME="$tmp/home" XDG_STATE_HOME="$tmp/state"
mkdir -p "$HOME"
failed=0

pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
trim() { printf '%s' "$1" | sed 's/^[[:space:]]*//; s/[[:space:]]*$//'; }
show() { sed -n '1,12s/^/    | /p' "$1"; }

for b in "$REL" "$ASAN"; do
	[ -x "$b" ] || fail "binary $b is missing"
done
# One run, one build: work on copies, so a rebuild meanwhile cannot change
# (or briefly remove) the binaries under the checks.
mkdir -p "$tmp/bin"
cp "$REL" "$tmp/bin/release" 2>/dev/null && REL="$tmp/bin/release"
cp "$ASAN" "$tmp/bin/asan" 2>/dev/null && ASAN="$tmp/bin/asan"
FORGE=$(dirname "$TEST")/forge
cp "$FORGE" "$tmp/bin/forge" 2>/dev/null && FORGE="$tmp/bin/forge"
cp "$TEST" "$tmp/bin/test" 2>/dev/null && TEST="$tmp/bin/test"

# run_check LABEL BIN VECTOR NAME BUG SPEC: one `check:` line (README).
run_check() {
	rc_label=$1 rc_bin=$2 rc_vec=$3 rc_name=$4 rc_bug=$5
	IFS='|' read -r c_args c_exit c_class c_text c_out <<EOF
$6
EOF
	c_exit=$(trim "${c_exit:-}")
	c_class=$(trim "${c_class:-}")
	c_text=$(trim "${c_text:-}")
	c_out=$(trim "${c_out:-}")
	set -f
	# shellcheck disable=SC2086
	set -- $c_args
	set +f
	n=$#
	i=0
	while [ $i -lt $n ]; do
		w=$1
		shift
		[ "$w" = @ ] && w=$rc_vec
		set -- "$@" "$w"
		i=$((i + 1))
	done
	rm -rf "$XDG_STATE_HOME"
	(cd "$dir" && "$rc_bin" "$@" >"$tmp/out" 2>"$tmp/err")
	rc=$?
	why=""
	[ "$rc" = "$c_exit" ] || why="exit status $rc, expected $c_exit"
	if [ -n "$c_class" ] && ! grep -q "^mbox-vault: .*($c_class)\$" "$tmp/err"; then
		why="${why:+$why; }no error of class ($c_class)"
	fi
	if [ -n "$c_text" ] && ! cat "$tmp/out" "$tmp/err" | grep -qF -- "$c_text"; then
		why="${why:+$why; }output lacks \"$c_text\""
	fi
	if [ -n "$c_out" ] && ! cmp -s "$tmp/out" "$dir/$c_out"; then
		why="${why:+$why; }standard output differs from $c_out"
	fi
	label="$rc_name: $(echo $c_args) => $c_exit${c_class:+ ($c_class)} [$rc_label]"
	if [ -z "$why" ]; then
		pass "$label"
	else
		fail "$label: $why${rc_bug:+ -- known src bug, see $rc_name.meta}"
		show "$tmp/err"
	fi
}

# run_vector META LABEL=BIN...: every check of one vector.
run_vector() {
	meta=$1
	shift
	name=${meta#"$dir"/}
	name=${name%.meta}
	vec="$name.mv"
	if [ ! -f "$dir/$vec" ]; then
		fail "$name: $vec is missing (run tests/vectors/gen.sh)"
		return
	fi
	bug=$(sed -n 's/^bug:[[:space:]]*//p' "$meta" | head -1)
	nchecks=$(grep -c '^check:' "$meta")
	if [ "$nchecks" -eq 0 ]; then
		fail "$name: no check: lines"
		return
	fi
	for lb in "$@"; do
		grep '^check:' "$meta" | sed 's/^check:[[:space:]]*//' > "$tmp/checks"
		while IFS= read -r spec; do
			run_check "${lb%%=*}" "${lb#*=}" "$vec" "$name" "$bug" "$spec"
		done < "$tmp/checks"
	done
}

# ---- good and bad vectors ----
for m in "$dir"/good/*.meta; do
	run_vector "$m" "release=$REL" "asan=$ASAN"
done
nbad=0
for m in "$dir"/bad/*.meta; do
	run_vector "$m" "asan=$ASAN"
	nbad=$((nbad + 1))
done
[ "$nbad" -ge 30 ] && pass "at least 30 must-fail vectors ($nbad)" ||
	fail "only $nbad must-fail vectors"
for a in "$dir"/good/*.mv "$dir"/bad/*.mv; do
	[ -f "${a%.mv}.meta" ] || fail "${a#"$dir"/} has no .meta file"
done

# ---- versions append: each good archive is a prefix of the next ----
prefix() { # shorter longer
	if cmp -s -n "$(wc -c < "$dir/good/$1.mv")" "$dir/good/$1.mv" "$dir/good/$2.mv"; then
		pass "good/$1.mv is a prefix of good/$2.mv (append-only)"
	else
		fail "good/$1.mv is not a prefix of good/$2.mv"
	fi
}
prefix identity-v1 identity-v2
prefix identity-v2 identity-v3-grant
prefix identity-v1 identity-recovered

# ---- rollback state (format-spec 12): two commands share one state ----
state_pair() { # name first-archive second-archive exit class
	rm -rf "$XDG_STATE_HOME"
	(cd "$dir" && "$ASAN" verify "$2" >/dev/null 2>&1 &&
		"$ASAN" verify "$3" >"$tmp/out" 2>"$tmp/err")
	rc=$?
	if [ "$rc" = "$4" ] && grep -q "($5)\$" "$tmp/err"; then
		pass "state: $1 => $4 ($5) [asan]"
	else
		fail "state: $1: exit status $rc, expected $4 ($5)"
		show "$tmp/err"
	fi
}
state_pair "verify identity-v2, then its prefix identity-v1 (rolled back)" \
	good/identity-v2.mv good/identity-v1.mv 4 rollback
state_pair "verify identity-v2, then identity-recovered (history rewritten)" \
	good/identity-v2.mv good/identity-recovered.mv 4 rollback
state_pair "verify identity-v2, then bad/resigned (another signer)" \
	good/identity-v2.mv bad/resigned.mv 6 signer

# ---- reproducible pulls (P11) ----
# A Maildir that mixes messages under 64 bytes (stored at once) with larger
# ones (compressed on worker threads), pulled twice with one seed.
if [ -x "$TEST" ]; then
	python3 - "$tmp/race" <<'PY'
import os, sys
root = os.path.join(sys.argv[1], "mail")
for s in ("cur", "new", "tmp"):
    os.makedirs(os.path.join(root, s), exist_ok=True)
for i in range(40):
    if i % 2 == 0:
        body = ("Subject: m%d\n\n" % i).encode() + \
            (("line %d of a compressible message\n" % i) * 3000).encode()
    else:
        body = ("Subject: t%d\n" % i).encode()
    f = os.path.join(root, "cur", "%d.M%dP1.race:2,S" % (1700000000 + i, i))
    with open(f, "wb") as fh:
        fh.write(body)
    os.utime(f, (1700000000 + i, 1700000000 + i))
PY
	printf 'race\n' > "$tmp/race/pass"
	repro() { # name extra-pull-options...
		rp_name=$1
		shift
		for k in 1 2 3; do
			rm -rf "$XDG_STATE_HOME" "$tmp/race/a$k.mv"
			(cd "$tmp/race" && MV_TEST_SEED=race MV_TEST_TIME=1700001000 \
				MV_TEST_ARGON_KIB=8192 "$TEST" --quiet pull maildir:mail "a$k.mv" \
				--passphrase-file pass "$@") || { fail "pull: $rp_name: pull failed"; return; }
		done
		if cmp -s "$tmp/race/a1.mv" "$tmp/race/a2.mv" &&
		   cmp -s "$tmp/race/a1.mv" "$tmp/race/a3.mv"; then
			pass "pull: $rp_name: three pulls with one seed are byte-identical"
		else
			fail "pull: $rp_name: three pulls with one seed differ -- known src bug, see vectors/README.md (Known problems)"
		fi
	}
	repro "messages of 64 bytes or more and smaller ones, --no-compress" --no-compress
	repro "messages of 64 bytes or more and smaller ones, compressed"
else
	fail "pull: $TEST is missing (make TESTHOOKS=1 tools)"
fi

# ---- regeneration: same build, same bytes ----
if MV_TEST="$TEST" MV_FORGE="$FORGE" sh "$top/tests/vectors/gen.sh" "$tmp/regen" \
	>"$tmp/gen.log" 2>&1; then
	nfiles=0
	bad=0
	for f in $(cd "$tmp/regen" && find . -type f | sed 's|^\./||' | sort); do
		nfiles=$((nfiles + 1))
		if [ ! -f "$dir/$f" ]; then
			fail "regenerate: $f is generated but not committed"
			bad=1
		elif ! cmp -s "$tmp/regen/$f" "$dir/$f"; then
			fail "regenerate: $f differs from the committed file (format drift or non-deterministic generation)"
			bad=1
		fi
	done
	for f in $(cd "$dir" && find keys good/messages -type f; ls good/*.mv good/*.out bad/*.mv); do
		[ -f "$tmp/regen/$f" ] || { fail "regenerate: committed $f is not generated any more"; bad=1; }
	done
	[ $bad -eq 0 ] && pass "regenerate: tests/vectors/gen.sh reproduces all $nfiles files byte for byte"
else
	fail "regenerate: tests/vectors/gen.sh failed"
	sed 's/^/    | /' "$tmp/gen.log" | tail -20
fi

echo "vectors: $failed failed"
[ "$failed" -eq 0 ]
