#!/bin/sh
# bench/run.sh - mbox-vault against restic, borg and tar|zstd|age on one
# generated Maildir++ corpus, in one run; then the same corpus served by a
# throwaway Dovecot over imaps on loopback, pulled by mbox-vault and by
# mbsync and read by a bare pipelined `openssl s_client` (the server's
# ceiling; bench/pull.sh); then pushed into empty accounts of a fresh
# Dovecot by mbox-vault (from an archive of it) and by mbsync (from the
# Maildir), and pushed again as a no-op, with and without push's record
# (bench/push.sh).  `make bench` runs it.
#
#   sh bench/run.sh                       # full: 20000 messages, ~1.1 GB
#   BENCH_MB=100 sh bench/run.sh          # smoke run, a few minutes
#   BENCH_SECTIONS=pull sh bench/run.sh   # the IMAP pull section only
#   BENCH_MB=100 BENCH_SECTIONS=push BENCH_WAIT_QUIET=0 sh bench/run.sh
#                                         # smoke run of the push section
#
# Environment:
#   BENCH_SECTIONS  comma-separated sections to run, in this order:
#                   archive (Maildir pull vs restic, borg, tar|zstd|age)
#                   pull (IMAP pull vs mbsync and the s_client
#                   ceiling, see bench/pull.sh) and push (IMAP push vs
#                   mbsync Maildir -> IMAP, the no-op push with and
#                   without push's record against one s_client read of
#                   the account, see bench/push.sh); default
#                   "archive,pull,push"
#   BENCH_MB        corpus size in MB (10^6 bytes), default 1100 (>= 1 GiB)
#   BENCH_MESSAGES  message count, default 20000 scaled by BENCH_MB/1100
#                   (at least 500)
#   BENCH_SEED      generator seed, default 1
#   BENCH_DIR       work dir, default /tmp/mbox-vault-bench (bench/out is
#                   gitignored, for BENCH_DIR=bench/out); corpora are
#                   kept there and reused when generated with the same
#                   parameters and the same gen_maildir.py; each run's
#                   archives and repositories are made anew in BENCH_DIR/run
#   BENCH_ROUNDS    rounds of the archive section's backup group (each
#                   tool into a new archive or repository), default 3;
#                   its targets are medians of the rounds' ratios
#   BENCH_PROFILE=1 also profile one `pull` with `perf record -e cpu-clock`
#                   (software event, so it works where hardware counters do
#                   not) and print the top functions
#   BENCH_WAIT_QUIET  seconds to wait, before the timed runs, for the 1-min
#                   load average to drop below 0.6 (default 300, 0 to skip);
#                   the run goes ahead either way and prints the load
#   MBOX_VAULT      use this binary instead of building ./mbox-vault
#
# Nothing system-wide is changed: packages are installed if missing (as
# root: restic borgbackup age zstd time python3), and every tool's state
# (mbox-vault's rollback state, restic's cache, borg's config, cache and
# security dirs) lives under BENCH_DIR.  The page cache is NOT dropped (that
# is a system-wide sysctl write); the corpus is read once before the timed
# runs instead so every tool starts from the same warm cache, and `sync`
# runs (untimed) before each timed command so one tool's write-back does not
# land in the next one's time.
#
# Times and peak RSS come from GNU time (`/usr/bin/time -f '%e %M'`).  For a
# pipeline (tar | zstd | age) GNU time measures `bash -c PIPELINE`, so its
# peak RSS is that of the largest single process in the pipeline, not the
# sum.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH_MB=${BENCH_MB:-1100}
BENCH_MESSAGES=${BENCH_MESSAGES:-$((BENCH_MB * 20000 / 1100))}
[ "$BENCH_MESSAGES" -ge 500 ] || BENCH_MESSAGES=500
BENCH_SEED=${BENCH_SEED:-1}
BENCH_DIR=${BENCH_DIR:-/tmp/mbox-vault-bench}
BENCH_PROFILE=${BENCH_PROFILE:-0}
ROUNDS=${BENCH_ROUNDS:-3}
BENCH_SECTIONS=${BENCH_SECTIONS:-archive,pull,push}

say() { printf '%s\n' "$*" >&2; }
die() { say "bench: $*"; exit 1; }
in_section() { case ",$BENCH_SECTIONS," in *",$1,"*) return 0 ;; esac; return 1; }
for _s in $(echo "$BENCH_SECTIONS" | tr ',' ' '); do
	case $_s in archive|pull|push) ;; *) die "BENCH_SECTIONS: unknown section '$_s' (archive, pull, push)" ;; esac
done

# ---- tools -------------------------------------------------------------
need=""
pkgs="time python3 tar bash"
in_section archive && pkgs="$pkgs restic borgbackup age zstd"
# pull: mbsync (isync), Dovecot, openssl and pgrep (tests/imap/dovecot.sh,
# s_client, bench/imap_measure.sh)
in_section pull && pkgs="$pkgs isync dovecot-imapd openssl procps"
# push: the same
in_section push && pkgs="$pkgs isync dovecot-imapd openssl procps"
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		need="$need $p"
done
if [ "$BENCH_PROFILE" = 1 ] && ! command -v perf >/dev/null; then
	need="$need linux-perf"
fi
if [ -n "$need" ]; then
	[ "$(id -u)" = 0 ] || die "missing packages:$need (run as root, or install them)"
	say "installing:$need"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# as tests/install-deps.sh: keep Debian from starting the system-wide
	# Dovecot service (the bench runs its own instance)
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		apt-get install -y -qq --no-install-recommends $need >/dev/null || {
			rm -f /usr/sbin/policy-rc.d; die "apt-get install failed"; }
		rm -f /usr/sbin/policy-rc.d
	else
		apt-get install -y -qq --no-install-recommends $need >/dev/null
	fi
fi
TIME=/usr/bin/time
[ -x "$TIME" ] || die "GNU time (/usr/bin/time) missing"

if [ -n "${MBOX_VAULT:-}" ]; then
	MV=$MBOX_VAULT
else
	say "building: make all"
	make -C "$ROOT" all >&2 || die "make all failed"
	MV=$ROOT/mbox-vault
fi
[ -x "$MV" ] || die "no binary at $MV"

# ---- corpora -------------------------------------------------------------
mkdir -p "$BENCH_DIR"
BENCH_DIR=$(cd "$BENCH_DIR" && pwd)   # absolute: the runs below cd around
GEN=$ROOT/bench/gen_maildir.py
GENSUM=$(sha256sum "$GEN" | cut -c1-16)

# corpus NAME MESSAGES MB -> prints its path; generates it unless a
# complete one with the same parameters and generator is there.
corpus() {
	c=$BENCH_DIR/corpus-m$2-mb$3-s$BENCH_SEED
	stamp="$GENSUM $2 $3 $BENCH_SEED"
	if [ -d "$c" ] && [ -f "$c.ok" ] && [ "$(cat "$c.ok")" = "$stamp" ]; then
		say "reusing $1 corpus $c"
	else
		say "generating $1 corpus: $2 messages, $3 MB -> $c"
		rm -rf "$c" "$c.tmp" "$c.ok"
		gstart=$(date +%s)
		python3 "$GEN" "$c.tmp" --messages "$2" --target-mb "$3" \
			--seed "$BENCH_SEED" >&2 || die "gen_maildir.py failed"
		mv "$c.tmp" "$c"
		printf '%s\n' "$stamp" > "$c.ok"
		say "  generated in $(( $(date +%s) - gstart )) s"
	fi
	printf '%s\n' "$c"
}
CORPUS=$(corpus full "$BENCH_MESSAGES" "$BENCH_MB")
in_section archive && HALF=$(corpus half $((BENCH_MESSAGES / 2)) $((BENCH_MB / 2)))

bytes_of() { find "$1" -type f -printf '%s\n' | awk '{s+=$1} END{printf "%d\n", s}'; }
files_of() { find "$1" -type f -name '*,S=*' | wc -l; }
CBYTES=$(bytes_of "$CORPUS")
in_section archive && HBYTES=$(bytes_of "$HALF")

# ---- run dir and secrets (untimed) ----------------------------------------
RUN=$BENCH_DIR/run
rm -rf "$RUN"
mkdir -p "$RUN/log" "$RUN/state"
chmod 700 "$RUN"
export XDG_STATE_HOME="$RUN/state"
ID=$RUN/id.mvid
"$MV" keygen --unprotected -o "$ID" > "$RUN/log/keygen.out"

# Other processes on this 2-core machine skew every number: say what the load
# was, and wait a little for a quiet machine (BENCH_WAIT_QUIET seconds, 0 to
# skip) before starting.  Sets LOAD_BEFORE UPTIME_BEFORE LOAD_START and w (the
# seconds waited).
wait_quiet() {
	LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
	UPTIME_BEFORE=$(uptime)
	w=0
	while [ "$w" -lt "${BENCH_WAIT_QUIET:-300}" ] && [ "$(awk '{print ($1 > 0.6)}' /proc/loadavg)" = 1 ]; do
		[ "$w" = 0 ] && say "waiting up to ${BENCH_WAIT_QUIET:-300} s for the load average ($(cut -d' ' -f1 /proc/loadavg)) to drop below 0.6"
		sleep 10
		w=$((w + 10))
	done
	LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
}
# busy CPU seconds of the whole machine, to tell how much others used
cpu_busy() { awk '/^cpu /{printf "%.2f\n", ($2+$3+$4+$7+$8+$9)/100}' /proc/stat; }

# ==== section: archive (Maildir pull vs restic, borg, tar|zstd|age) =========
# (not indented, to keep its history readable)
if in_section archive; then
mkdir -p "$RUN/borg-base" "$RUN/restic-cache"
export RESTIC_CACHE_DIR="$RUN/restic-cache"
export BORG_BASE_DIR="$RUN/borg-base"
RESTIC_PASSWORD=$(head -c 24 /dev/urandom | base64)
export RESTIC_PASSWORD
unset RESTIC_PASSWORD_FILE RESTIC_PASSWORD_COMMAND RESTIC_REPOSITORY
BORG_PASSPHRASE=$(head -c 24 /dev/urandom | base64)
export BORG_PASSPHRASE
export BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=no
age-keygen -o "$RUN/age.key" 2> "$RUN/log/age-keygen.err"
AGE_RCPT=$(age-keygen -y "$RUN/age.key")
# fresh_repos: empty restic and borg repositories (untimed), for each round
fresh_repos() {
	rm -rf "$RUN/restic" "$RUN/borg"
	restic -r "$RUN/restic" init --repository-version 2 > "$RUN/log/restic-init.out" 2>&1 ||
		die "restic init failed: $(cat "$RUN/log/restic-init.out")"
	RESTIC_REPO_VERSION=$(restic -r "$RUN/restic" cat config 2>/dev/null |
		sed -n 's/.*"version": *\([0-9]*\).*/\1/p')
	borg init --encryption=repokey-blake2 "$RUN/borg" > "$RUN/log/borg-init.out" 2>&1 ||
		die "borg init failed: $(cat "$RUN/log/borg-init.out")"
}
fresh_repos

# ---- warm cache -------------------------------------------------------------
# `tar -cf - X > /dev/null` would read nothing (GNU tar skips file data when
# the archive is /dev/null), hence the cat.
say "warming the page cache (reading both corpora once)"
tar -cf - -C "$(dirname "$CORPUS")" "$(basename "$CORPUS")" "$(basename "$HALF")" | cat > /dev/null

# ---- timed runs -------------------------------------------------------------
wait_quiet
BUSY0=$(cpu_busy)
RES=$RUN/results.tsv
: > "$RES"
# timed GROUP TOOL OPERATION SIZEFILE KEY -- COMMAND...
#   runs COMMAND under GNU time; appends a row to $RES.  SIZEFILE is the
#   archive or repository whose size is reported ("-" for none); KEY names
#   the row so others can refer to it.
timed() {
	g=$1 tool=$2 op=$3 sz=$4 key=$5
	shift 6
	sync
	say "  $tool $op"
	if ! "$TIME" -f '%e %M %U %S' -o "$RUN/log/$key.time" "$@" \
		> "$RUN/log/$key.out" 2> "$RUN/log/$key.err"; then
		say "FAILED: $*"
		tail -n 20 "$RUN/log/$key.err" >&2
		exit 1
	fi
	set -- $(tail -n 1 "$RUN/log/$key.time")
	secs=$1 rss=$2 cpu=$(echo "$3 $4" | awk '{printf "%.2f", $1 + $2}')
	size=-
	if [ "$sz" != - ]; then
		if [ -d "$sz" ]; then size=$(du -sb "$sz" | cut -f1); else size=$(stat -c %s "$sz"); fi
	fi
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$g" "$key" "$tool" "$op" "$secs" "$rss" "$size" "$cpu" >> "$RES"
}

A=$RUN/A.mvault
say "timed runs (warm cache):"
# backup, in BENCH_ROUNDS rounds (3): each round backs the corpus up into
# a new archive and fresh repositories, each tool right after the other,
# and each target is the median of the rounds' ratios.  This VM's speed
# drifts 20-30% within the hour and borg's own time spread 10-16 s over
# single runs, so one run of each decides too little.  Round 1's rows
# keep their plain keys; the -T0 and fsync variants (info) run in round 1
# only.  The incremental and check groups use the last round's archive
# and repositories.
r=1
while [ "$r" -le "$ROUNDS" ]; do
	if [ "$r" = 1 ]; then sfx= lab=; else sfx=_r$r lab=", round $r"; fresh_repos; rm -f "$A"; fi
	timed backup mbox-vault "pull maildir: (new archive)$lab" "$A" "mv_pull$sfx" -- \
		"$MV" pull "maildir:$CORPUS" "$A" --identity "$ID"
	timed backup restic "backup$lab" "$RUN/restic" "restic_backup$sfx" -- \
		restic -r "$RUN/restic" backup "$CORPUS"
	timed backup borg "create --compression zstd,3$lab" "$RUN/borg" "borg_create$sfx" -- \
		borg create --compression zstd,3 "$RUN/borg::a" "$CORPUS"
	cd "$(dirname "$CORPUS")"
	CB=$(basename "$CORPUS")
	# The peer the issue names is `tar | zstd -3 | age`: zstd's default, one
	# compression worker beside its I/O thread (the target row).  -T0 (one
	# worker per core, 2 here) is shown too: mbox-vault also uses both cores.
	timed backup "tar|zstd|age" "zstd -3$lab" "$RUN/out.age" "tza$sfx" -- \
		bash -o pipefail -c "tar -cf - '$CB' | zstd -q -3 | age -r '$AGE_RCPT' > '$RUN/out.age'"
	if [ "$r" = 1 ]; then
		timed backup "tar|zstd|age" "zstd -3 -T0" "$RUN/out1.age" tza_t0 -- \
			bash -o pipefail -c "tar -cf - '$CB' | zstd -q -3 -T0 | age -r '$AGE_RCPT' > '$RUN/out1.age'"
		# mbox-vault, restic and borg fsync what they write; the plain
		# pipeline leaves out.age in the page cache.  The same made durable:
		timed backup "tar|zstd|age" "zstd -3, then fsync" "$RUN/out2.age" tza_sync -- \
			bash -o pipefail -c "tar -cf - '$CB' | zstd -q -3 | age -r '$AGE_RCPT' > '$RUN/out2.age' && sync '$RUN/out2.age'"
		rm -f "$RUN/out1.age" "$RUN/out2.age"
	fi
	cd "$ROOT"
	r=$((r + 1))
done

# incremental: same corpus again, nothing changed
timed incremental mbox-vault "pull again (unchanged)" "$A" mv_pull2 -- \
	"$MV" pull "maildir:$CORPUS" "$A" --identity "$ID"
timed incremental restic "backup again" "$RUN/restic" restic_backup2 -- \
	restic -r "$RUN/restic" backup "$CORPUS"
timed incremental borg "create again" "$RUN/borg" borg_create2 -- \
	borg create --compression zstd,3 "$RUN/borg::b" "$CORPUS"

# check: read everything back
timed check mbox-vault "verify (keyless)" - mv_verify -- "$MV" verify "$A"
timed check mbox-vault "verify --identity" - mv_verify_key -- "$MV" verify "$A" --identity "$ID"
timed check restic "check --read-data" - restic_check -- \
	restic -r "$RUN/restic" check --read-data
timed check borg "check --verify-data" - borg_check -- \
	borg check --verify-data "$RUN/borg"
timed check "tar|zstd|age" "age -d | zstd -d | tar -t" - tza_check -- \
	bash -o pipefail -c "age -d -i '$RUN/age.key' '$RUN/out.age' | zstd -q -d | tar -tf - > /dev/null"

# memory: the same pull on a corpus half as large (fresh archive)
timed scaling mbox-vault "pull, half corpus" "$RUN/H.mvault" mv_pull_half -- \
	"$MV" pull "maildir:$HALF" "$RUN/H.mvault" --identity "$ID"

LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
UPTIME_END=$(uptime)
BUSY1=$(cpu_busy)
OTHER=$(awk -F'\t' -v b0="$BUSY0" -v b1="$BUSY1" '{s += $5; c += $8} END {
	o = b1 - b0 - c; if (o < 0) o = 0
	printf "%.1f CPU-s used by other processes during %.0f s of timed runs (%.0f%% of one core)%s", o, s, 100 * o / s, (o / s > 0.1 ? "  -- WARNING: machine not quiet, numbers skewed" : "")
}' "$RES")

# ---- table ------------------------------------------------------------------
PULL_OUT=$(cat "$RUN/log/mv_pull2.out")
MV_VER=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')
{
echo
echo "mbox-vault benchmark  (commit $MV_VER$([ -z "$(git -C "$ROOT" status --porcelain -- src Makefile 2>/dev/null)" ] || echo ', with uncommitted changes in src/'))"
echo "machine: $(nproc) cores, $(free -g | awk '/^Mem:/{print $2}') GiB, $(uname -r); $(restic version | cut -d' ' -f1,2) (repo v${RESTIC_REPO_VERSION:-?}), $(borg --version), age $(age --version), $(zstd --version | sed 's/.*\(v[0-9.]*\).*/zstd \1/')"
echo "corpus: $(files_of "$CORPUS") messages, $CBYTES bytes, $(find "$CORPUS" -name cur -type d | wc -l) folders, seed $BENCH_SEED ($CORPUS)"
echo "half:   $(files_of "$HALF") messages, $HBYTES bytes ($HALF)"
echo "page cache: warm (corpus read once before the timed runs; caches not dropped)"
echo "load average (1/5/15 min): $LOAD_BEFORE before, $LOAD_START at start (waited ${w}s), $LOAD_END at end"
echo "uptime before: $UPTIME_BEFORE"
echo "uptime after:  $UPTIME_END"
echo "other load: $OTHER"
echo "MB/s = corpus bytes / 10^6 / wall seconds.  CPU s = user + system time of the command and its children."
echo "RSS = peak resident set of the largest single process (GNU time); for a pipeline, its largest member."
echo "Ratios to mbox-vault (reference: the mbox-vault row of the group -- backup: pull; incremental: second pull;"
echo "check: keyless verify):  time x = their s / mbox-vault s = mbox-vault speed / their speed (>1: mbox-vault"
echo "faster);  CPU x = their CPU s / mbox-vault CPU s;  size x = their bytes / mbox-vault bytes (>1: mbox-vault smaller)."
echo
} 

awk -F'\t' -v cb="$CBYTES" -v hb="$HBYTES" '
function fmt_size(s) { return s == "-" ? "-" : sprintf("%d", s) }
{
	g[NR]=$1; key[NR]=$2; tool[NR]=$3; op[NR]=$4; s[NR]=$5; rss[NR]=$6; sz[NR]=$7; cpu[NR]=$8
	row[$2]=NR
}
END {
	ref["backup"]=row["mv_pull"]; ref["incremental"]=row["mv_pull2"]
	ref["check"]=row["mv_verify"]; ref["scaling"]=row["mv_pull"]
	hdr = sprintf("%-12s %-14s %-38s %8s %7s %8s %14s %7s %8s %7s %7s %7s", \
		"group", "tool", "operation", "seconds", "CPU s", "MB/s", "size bytes", \
		"size/in", "RSS MiB", "time x", "CPU x", "size x")
	print hdr; gsub(/./, "-", hdr); print hdr
	last = ""
	for (i = 1; i <= NR; i++) {
		if (last != "" && g[i] != last) print ""
		last = g[i]
		bytes = (key[i] == "mv_pull_half") ? hb : cb
		r = ref[g[i]]
		# rows of a later round compare with the pull of that round
		if (g[i] == "backup" && match(key[i], /_r[0-9]+$/))
			r = row["mv_pull" substr(key[i], RSTART)]
		tx = (key[i] == "mv_pull_half" || r == "") ? "-" : sprintf("%.2f", s[i] / s[r])
		cx = (key[i] == "mv_pull_half" || r == "" || cpu[r] <= 0) ? "-" : sprintf("%.2f", cpu[i] / cpu[r])
		if (sz[i] == "-" || sz[r] == "-" || g[i] == "scaling") sx = "-"
		else sx = sprintf("%.3f", sz[i] / sz[r])
		printf "%-12s %-14s %-38s %8.2f %7.2f %8.1f %14s %7s %8.1f %7s %7s %7s\n", \
			g[i], tool[i], op[i], s[i], cpu[i], (s[i] > 0 ? bytes / 1e6 / s[i] : 0), \
			fmt_size(sz[i]), (sz[i] == "-" ? "-" : sprintf("%.3f", sz[i] / bytes)), \
			rss[i] / 1024, tx, cx, sx
	}
	# targets; n rounds of the backup group, p the pull with the largest RSS
	n = 1
	while (("mv_pull_r" (n + 1)) in row) n++
	p = row["mv_pull"]
	for (i = 2; i <= n; i++) if (rss[row["mv_pull_r" i]] > rss[p]) p = row["mv_pull_r" i]
	v = row["mv_verify"]; vk = row["mv_verify_key"]
	h = row["mv_pull_half"]
	print ""
	print "targets (issue; wall-clock ratios in this one run decide; the CPU-time ratio is shown for a busy machine)"
	print "                                                     measured   target     result   CPU-time ratio / rounds"
	tr("pull speed vs restic backup", "restic_backup", ">= 1.80x", 1.8)
	tr("pull speed vs borg create zstd,3", "borg_create", ">= 3.00x", 3.0)
	tr("pull speed vs tar|zstd -3|age", "tza", ">= 1.00x", 1.0)
	t("pull speed vs tar|zstd -3 -T0|age (round 1)", "tza_t0", row["mv_pull"], "(info)", -1)
	t("pull speed vs tar|zstd -3|age + fsync (round 1)", "tza_sync", row["mv_pull"], "(info)", -1)
	printf "  %-48s %8.3fx  %-10s %s\n", "archive size vs borg (ours / borg; round 1)", \
		sz[row["mv_pull"]] / sz[row["borg_create"]], "<= 1.10x", \
		(sz[row["mv_pull"]] / sz[row["borg_create"]] <= 1.10 ? "PASS" : "FAIL")
	t("keyless verify vs restic check --read-data", "restic_check", v, ">= 2.50x", 2.5)
	t("keyed verify vs restic check --read-data", "restic_check", vk, "(info)", -1)
	t("keyless verify vs borg check --verify-data", "borg_check", v, "(info)", -1)
	printf "  %-48s %8.1f MiB %-9s %s\n", "peak RSS of pull, full corpus (any round)", rss[p] / 1024, \
		"< 64 MiB", (rss[p] / 1024 < 64 ? "PASS" : "FAIL")
	printf "  %-48s %8.1f MiB %-9s %s\n", "peak RSS of pull, half corpus", rss[h] / 1024, \
		"< 64 MiB", (rss[h] / 1024 < 64 ? "PASS" : "FAIL")
	gr = rss[p] / rss[h]
	printf "  %-48s %8.3fx  %-10s %s\n", sprintf("RSS full/half corpus (%+.1f MiB)", \
		(rss[p] - rss[h]) / 1024), gr, "<= 1.15x", (gr <= 1.15 ? "PASS (flat)" : "FAIL (grows)")
}
# tr NAME PEER-KEY TARGET MIN: the median over the rounds of the backup
# group of (peer seconds / pull seconds); every round is shown
function tr(name, peer, target, min,   i, k, x, q, rs, list) {
	list = ""
	for (i = 1; i <= n; i++) {
		q = (i == 1) ? "" : "_r" i
		rs[i] = s[row[peer q]] / s[row["mv_pull" q]]
		list = list (i > 1 ? ", " : "") sprintf("%.2f", rs[i])
	}
	for (i = 2; i <= n; i++)
		for (k = i; k > 1 && rs[k] < rs[k - 1]; k--) { x = rs[k]; rs[k] = rs[k - 1]; rs[k - 1] = x }
	x = rs[int(n / 2) + 1]
	printf "  %-48s %8.2fx  %-10s %-8s %s\n", name, x, target, \
		(x >= min ? "PASS" : "FAIL"), (n > 1 ? "median of rounds: " list : "")
}
# t NAME PEER-KEY OUR-ROW TARGET MIN: speed ratio = peer seconds / our seconds
function t(name, peer, ours, target, min,   x, c) {
	x = s[row[peer]] / s[ours]
	c = cpu[ours] > 0 ? sprintf("%.2fx", cpu[row[peer]] / cpu[ours]) : "-"
	printf "  %-48s %8.2fx  %-10s %-8s %s\n", name, x, target, \
		(min < 0 ? "" : (x >= min ? "PASS" : "FAIL")), c
}' "$RES"

echo
echo "second pull: $PULL_OUT"
echo "(\"flat\" = peak RSS on the full corpus at most 1.15x that on the half corpus;"
echo " the half corpus is generated separately with half the messages and bytes.)"

# ---- optional profile ---------------------------------------------------------
if [ "$BENCH_PROFILE" = 1 ]; then
	echo
	echo "profile: perf record -e cpu-clock (software event; sampled at 999 Hz), one pull of the full corpus into a new archive"
	sync
	perf record -q -e cpu-clock -F 999 -o "$RUN/perf.data" -- \
		"$MV" pull "maildir:$CORPUS" "$RUN/P.mvault" --identity "$ID" \
		> "$RUN/log/perf-pull.out" 2> "$RUN/log/perf-pull.err" ||
		die "perf record failed: $(tail -n 5 "$RUN/log/perf-pull.err")"
	pr() { perf report -i "$RUN/perf.data" --stdio --no-children -g none "$@" 2> /dev/null | grep '%' | grep -v '^#'; }
	echo "by library:"
	pr -s dso | head -n 10
	echo "by thread and library:"
	pr -s pid,dso | head -n 16
	echo "top symbols (libzstd/libcrypto ship without symbol tables here, so their lines are addresses):"
	pr -s dso,symbol | head -n 25
	echo
	echo "profile: the same for one keyed verify (verify --identity) of that archive"
	sync
	perf record -q -e cpu-clock -F 999 -o "$RUN/perf-verify.data" -- \
		"$MV" verify "$RUN/P.mvault" --identity "$ID" \
		> "$RUN/log/perf-verify.out" 2> "$RUN/log/perf-verify.err" ||
		die "perf record failed: $(tail -n 5 "$RUN/log/perf-verify.err")"
	prv() { perf report -i "$RUN/perf-verify.data" --stdio --no-children -g none "$@" 2> /dev/null | grep '%' | grep -v '^#'; }
	echo "by thread and library:"
	prv -s pid,dso | head -n 12
	echo "top symbols:"
	prv -s dso,symbol | head -n 15
fi
fi  # section archive

# ==== section: pull (IMAP: mbox-vault vs mbsync vs the s_client ceiling) ====
if in_section pull; then
	. "$ROOT/bench/pull.sh"
fi

# ==== section: push (IMAP: mbox-vault vs mbsync, no-op pushes) ===============
if in_section push; then
	. "$ROOT/bench/push.sh"
fi
