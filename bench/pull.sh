# bench/pull.sh - the IMAP section of `make bench` (sourced by bench/run.sh,
# which sets ROOT MV CORPUS CBYTES BENCH_SEED RUN ID TIME and say die
# files_of wait_quiet cpu_busy; BENCH_SECTIONS=pull runs this one alone).
#
# The corpus of bench/run.sh (20000 messages, ~1.1 GB by default) is loaded
# once, untimed, into alice's mailbox on a throwaway Dovecot
# (tests/imap/dovecot.sh: its own config, CA and users under /tmp, on
# 127.0.0.1; nothing system-wide is touched; it is stopped on exit), and
# then, in one run, over imaps on loopback:
#
#   ceiling      bench/imap_ceiling.sh: `openssl s_client` fed a pipelined
#                LOGIN, EXAMINE + `UID FETCH 1:* (BODY.PEEK[])` for every
#                folder, LOGOUT; output to /dev/null.  Once right after the
#                load (a warm-up, shown but not used), then once in each
#                round (below).  Once more with BINARY.PEEK[] instead
#                (info: mbox-vault fetches that form when the server offers
#                BINARY, and Dovecot then decodes every base64 part, which
#                costs it CPU).
#   mbox-vault   `pull imaps://alice@127.0.0.1:PORT` into a new archive
#                (X25519 identity: no Argon2 memory), once in each round,
#                then again with nothing new (the no-op incremental pull).
#   rounds       BENCH_PULL_ROUNDS (3) rounds of a ceiling run followed by
#                a full pull.  This VM's speed drifts 20-30% within an
#                hour and single runs of the ceiling spread 9.2-12.6 s in
#                one bench, so one pull against one ceiling decides
#                nothing: each round's ratio compares two runs made back
#                to back, and the median round ratio is the one held to
#                the target.  Every round is shown, with the fastest
#                ceiling against the fastest pull (info).  The other
#                ratios (mbsync, no-op) use the median pull.
#   mbsync       isync's mbsync, the whole account to an empty Maildir
#                (neither compresses nor encrypts): defaults (FSync yes),
#                and once more with `FSync no` (info).
#
# Measured per run: wall seconds, peak RSS and user+system CPU of the client
# (GNU time; for the ceiling, of `sh` + s_client), the CPU Dovecot spent
# (every process of the instance: the master's own and reaped children's
# time from /proc/PID/stat, plus its live children's; imap-login does the
# TLS, imap reads the mail), and from Dovecot's log line of each session the
# bytes it sent and the bodies it served; a run whose body count is not the
# mailbox's message count is flagged.
#
# Environment (besides run.sh's):
#   BENCH_PULL_ROUNDS=3          ceiling + pull rounds (1 for a quick look)
#   BENCH_PULL_MBSYNC_NOFSYNC=0  skip the mbsync `FSync no` run
#   BENCH_PULL_KEEP=1            leave Dovecot running and its directory in
#                                place at the end (prints how to stop it)

PR=$RUN/pull
ROUNDS=${BENCH_PULL_ROUNDS:-3}
mkdir -p "$PR/log"
MV_TOP=$ROOT
. "$ROOT/tests/imap/dovecot.sh"
if [ "${BENCH_PULL_KEEP:-0}" = 1 ]; then
	trap 'say "pull: Dovecot left running: . tests/imap/dovecot.sh; dv_stop $DV_DIR"' EXIT
else
	trap 'dv_stop_all >/dev/null 2>&1 || :' EXIT
	trap 'exit 130' INT TERM
fi

# ---- server and mailbox (untimed) --------------------------------------------
say "pull: starting a throwaway Dovecot"
dv_start bench || die "pull: Dovecot did not start"
say "pull: loading the corpus into alice's mailbox ($DV_DIR, this takes a while)"
lstart=$(date +%s)
dv_load alice "$CORPUS" || die "pull: dv_load failed"
LOAD_S=$(( $(date +%s) - lstart ))
say "  loaded in $LOAD_S s"
# Selectable folders with their counts: `doveadm mailbox status` leaves out
# \Noselect parents (Lists); names are IMAP names with "/" between levels.
dv_doveadm mailbox status -u alice 'messages vsize' '*' > "$PR/status.txt" 2> "$PR/log/status.err" ||
	die "pull: doveadm mailbox status failed: $(cat "$PR/log/status.err")"
sed -n 's/ messages=[0-9]* vsize=[0-9]*$//p' "$PR/status.txt" > "$PR/folders.txt"
NFOLD=$(wc -l < "$PR/folders.txt")
set -- $(awk '{for (i = 1; i <= NF; i++) {
	if ($i ~ /^messages=/) m += substr($i, 10); if ($i ~ /^vsize=/) v += substr($i, 7) } }
	END {printf "%d %d\n", m, v}' "$PR/status.txt")
MSGS=$1 VSIZE=$2
[ "$MSGS" = "$(files_of "$CORPUS")" ] ||
	die "pull: Dovecot sees $MSGS messages, the corpus has $(files_of "$CORPUS")"
URL="imaps://alice@127.0.0.1:$DV_PORT_IMAPS"

# mbsync configs: the test CA; "localhost" because isync 1.4 matches the
# certificate's DNS names only (the server certificate has DNS:localhost and
# IP:127.0.0.1; localhost resolves to 127.0.0.1 here, checked below).
getent ahosts localhost | awk '{print $1}' | grep -qx 127.0.0.1 ||
	die "pull: localhost does not resolve to 127.0.0.1 (mbsync connects to it)"
mbsync_conf() {   # FILE MAILDIR FSYNC
	cat > "$1" <<EOF
FSync $3

IMAPAccount bench
Host localhost
Port $DV_PORT_IMAPS
User alice
PassCmd "cat $DV_PASS_alice"
SSLType IMAPS
CertificateFile $DV_CA

IMAPStore far
Account bench

MaildirStore near
Path $2/
Inbox $2/INBOX
SubFolders Verbatim

Channel pull
Far :far:
Near :near:
Patterns *
Create Near
Sync Pull
SyncState *
EOF
}
mbsync_conf "$PR/mbsync.conf" "$PR/mbsync-md" yes
mbsync_conf "$PR/mbsync-nofsync.conf" "$PR/mbsync-md" no

# ---- measuring ---------------------------------------------------------------
. "$ROOT/bench/imap_measure.sh"   # dv_cpu, dv_settle
PRES=$PR/results.tsv
: > "$PRES"
# prun KEY TOOL OPERATION -- COMMAND...: one timed run; appends
#   key tool op seconds rss_kib client_cpu server_cpu wire_bytes bodies sessions
prun() {
	key=$1 tool=$2 op=$3
	shift 4
	dv_settle
	sync
	nlog=$(wc -l < "$DV_LOG")
	c0=$(dv_cpu)
	say "  $tool $op"
	if ! "$TIME" -f '%e %M %U %S' -o "$PR/log/$key.time" "$@" \
		> "$PR/log/$key.out" 2> "$PR/log/$key.err"; then
		say "FAILED: $*"
		tail -n 20 "$PR/log/$key.err" >&2
		exit 1
	fi
	dv_settle
	c1=$(dv_cpu)
	tail -n +"$((nlog + 1))" "$DV_LOG" > "$PR/log/$key.dovecot"
	set -- $(tail -n 1 "$PR/log/$key.time")
	_secs=$1 _rss=$2 _cpu=$(echo "$3 $4" | awk '{printf "%.2f", $1 + $2}')
	set -- $(awk '/imap\(alice\).*Disconnected/ { n++
		for (i = 1; i <= NF; i++) {
			if ($i ~ /^out=/) o += substr($i, 5)
			if ($i ~ /^body_count=/) b += substr($i, 12)
		} } END {printf "%d %d %d\n", o, b, n}' "$PR/log/$key.dovecot")
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$key" "$tool" "$op" \
		"$_secs" "$_rss" "$_cpu" "$(echo "$c0 $c1" | awk '{printf "%.2f", $2 - $1}')" \
		"$1" "$2" "$3" >> "$PRES"
}

# ---- timed runs ----------------------------------------------------------------
# The mail Dovecot serves was just written by dv_load, so it is in the page
# cache (run.sh's `sync` before each run writes it back first).
say "pull: timed runs over imaps on 127.0.0.1:$DV_PORT_IMAPS"
CEIL="$ROOT/bench/imap_ceiling.sh"
prun ceil_warm "s_client" "ceiling (warm-up, after load)" -- \
	sh "$CEIL" "$DV_PORT_IMAPS" "$DV_CA" alice "$DV_PASS_alice" "$PR/folders.txt"
wait_quiet
BUSY0=$(cpu_busy)
# Rounds of a ceiling run and a full pull back to back: the two runs of a
# round meet the same host (whose speed drifts over minutes), and the
# median of the rounds' ratios decides.
r=1
while [ "$r" -le "$ROUNDS" ]; do
	prun "ceil_r$r" "s_client" "ceiling, round $r" -- \
		sh "$CEIL" "$DV_PORT_IMAPS" "$DV_CA" alice "$DV_PASS_alice" "$PR/folders.txt"
	rm -f "$PR/I.mvault"
	prun "mv_pull_r$r" "mbox-vault" "pull imaps://, round $r (new archive)" -- \
		"$MV" pull "$URL" "$PR/I.mvault" --identity "$ID" --cacert "$DV_CA" --password-file "$DV_PASS_alice"
	r=$((r + 1))
done
prun mv_pull2 "mbox-vault" "pull again (nothing new)" -- \
	"$MV" pull "$URL" "$PR/I.mvault" --identity "$ID" --cacert "$DV_CA" --password-file "$DV_PASS_alice"
rm -rf "$PR/mbsync-md"; mkdir -p "$PR/mbsync-md"
prun mbsync "mbsync" "-a, empty Maildir (FSync yes)" -- mbsync -c "$PR/mbsync.conf" -a
MBSYNC_FILES=$(find "$PR/mbsync-md" -type f \( -path '*/cur/*' -o -path '*/new/*' \) | wc -l)
if [ "${BENCH_PULL_MBSYNC_NOFSYNC:-1}" != 0 ]; then
	rm -rf "$PR/mbsync-md"; mkdir -p "$PR/mbsync-md"
	prun mbsync_nofsync "mbsync" "-a, empty Maildir (FSync no)" -- mbsync -c "$PR/mbsync-nofsync.conf" -a
fi
prun ceil_binary "s_client" "BINARY.PEEK[] reader (info)" -- \
	sh "$CEIL" "$DV_PORT_IMAPS" "$DV_CA" alice "$DV_PASS_alice" "$PR/folders.txt" 'BINARY.PEEK[]'
BUSY1=$(cpu_busy)
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
UPTIME_END=$(uptime)
rm -rf "$PR/mbsync-md"
if [ -d "$PR/I.mvault" ]; then IBYTES=$(du -sb "$PR/I.mvault" | cut -f1); else IBYTES=$(stat -c %s "$PR/I.mvault"); fi

OTHER=$(awk -F'\t' -v b0="$BUSY0" -v b1="$BUSY1" '$1 != "ceil_warm" {s += $4; c += $6 + $7} END {
	o = b1 - b0 - c; if (o < 0) o = 0
	printf "%.1f CPU-s used by other processes during %.0f s of timed runs (%.0f%% of one core)%s", o, s, 100 * o / s, (o / s > 0.1 ? "  -- WARNING: machine not quiet, numbers skewed" : "")
}' "$PRES")

# ---- table ---------------------------------------------------------------------
MV_VER=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')
{
echo
echo "mbox-vault IMAP pull benchmark  (commit $MV_VER$([ -z "$(git -C "$ROOT" status --porcelain -- src Makefile 2>/dev/null)" ] || echo ', with uncommitted changes in src/'))"
echo "machine: $(nproc) cores, $(free -g | awk '/^Mem:/{print $2}') GiB, $(uname -r); Dovecot $(dovecot --version | cut -d' ' -f1), $(mbsync --version 2>&1 | head -n 1), $(openssl version | cut -d' ' -f1,2)"
echo "mailbox: alice on a throwaway Dovecot over imaps on 127.0.0.1 (tests/imap/dovecot.sh), loaded from the corpus in $LOAD_S s (untimed):"
echo "  $MSGS messages in $NFOLD selectable folders, $CBYTES bytes of Maildir files, $VSIZE bytes as IMAP sizes them (CRLF), seed $BENCH_SEED ($CORPUS)"
echo "load average (1/5/15 min): $LOAD_BEFORE before, $LOAD_START at start (waited ${w}s), $LOAD_END at end"
echo "uptime before: $UPTIME_BEFORE"
echo "uptime after:  $UPTIME_END"
echo "other load: $OTHER"
echo "MB/s = Maildir bytes / 10^6 / wall seconds (the same mailbox for every row).  wire MB = what Dovecot sent, from its log"
echo "(mbox-vault fetches BODY.PEEK[], and BINARY.PEEK[] again only for messages whose BODY[] shows 0x80).  bodies = messages"
echo "Dovecot served.  client CPU = user + system of the command (GNU time); server CPU = Dovecot's, all its processes.  RSS = peak of"
echo "the largest client process.  time x = their s / the median mbox-vault full pull s (>1: mbox-vault faster)."
echo
} 

awk -F'\t' -v cb="$CBYTES" -v msgs="$MSGS" '
{
	key[NR] = $1; tool[NR] = $2; op[NR] = $3; s[NR] = $4; rss[NR] = $5
	cc[NR] = $6; sc[NR] = $7; wire[NR] = $8; bod[NR] = $9; ses[NR] = $10
	row[$1] = NR
}
END {
	# p: the round whose pull time is the median (the upper one if even)
	n = 0
	while (("mv_pull_r" (n + 1)) in row) n++
	for (i = 1; i <= n; i++) {
		pr[i] = row["mv_pull_r" i]; cr[i] = row["ceil_r" i]
		rs[i] = s[cr[i]] / s[pr[i]]; ord[i] = pr[i]
		if (i == 1 || s[pr[i]] < s[pbest]) pbest = pr[i]
		if (i == 1 || s[cr[i]] < s[cbest]) cbest = cr[i]
		if (i == 1 || rss[pr[i]] > rssmax) rssmax = rss[pr[i]]
	}
	for (i = 2; i <= n; i++) {
		for (k = i; k > 1 && s[ord[k]] < s[ord[k - 1]]; k--) { x = ord[k]; ord[k] = ord[k - 1]; ord[k - 1] = x }
		for (k = i; k > 1 && rs[k] < rs[k - 1]; k--) { x = rs[k]; rs[k] = rs[k - 1]; rs[k - 1] = x }
	}
	p = ord[int(n / 2) + 1]; mratio = rs[int(n / 2) + 1]; p2 = row["mv_pull2"]
	hdr = sprintf("%-11s %-36s %8s %7s %7s %7s %8s %9s %7s %8s %7s", "tool", "operation", \
		"seconds", "MB/s", "clntCPU", "srvCPU", "RSS MiB", "wire MB", "bodies", "sessions", "time x")
	print hdr; gsub(/./, "-", hdr); print hdr
	bad = ""
	for (i = 1; i <= NR; i++) {
		want = (key[i] == "mv_pull2") ? 0 : msgs
		flag = (bod[i] == want) ? "" : " !"
		if (flag != "") bad = bad " " key[i]
		printf "%-11s %-36s %8.2f %7.1f %7.2f %7.2f %8.1f %9.1f %7d%-2s %6d %7.2f\n", \
			tool[i], op[i], s[i], (s[i] > 0 ? cb / 1e6 / s[i] : 0), cc[i], sc[i], rss[i] / 1024, \
			wire[i] / 1e6, bod[i], flag, ses[i], s[i] / s[p]
	}
	if (bad != "")
		print "  ! bodies served differ from the mailbox (" msgs "; 0 for the no-op pull):" bad
	print ""
	print "targets (issue; wall-clock ratios in this one run decide; CPU ratios shown for a busy machine)"
	print "                                                     measured   target     result   CPU ratio (client+server)"
	t("pull speed vs mbsync (defaults, FSync yes)", row["mbsync"], ">= 2.00x", 2.0)
	if ("mbsync_nofsync" in row)
		t("pull speed vs mbsync FSync no", row["mbsync_nofsync"], "(info)", -1)
	printf "  %-48s %8.2fx  %-10s %-8s\n", sprintf("pull vs s_client ceiling (median of %d rounds)", n), \
		mratio, ">= 0.85x", (mratio >= 0.85 ? "PASS" : "FAIL")
	for (i = 1; i <= n; i++)
		t(sprintf("  round %d: ceiling %.2f s / pull %.2f s", i, s[cr[i]], s[pr[i]]), cr[i], "(info)", -1, pr[i])
	t(sprintf("  fastest ceiling %.2f s / fastest pull %.2f s", s[cbest], s[pbest]), cbest, "(info)", -1, pbest)
	t("pull speed vs the BINARY.PEEK[] s_client reader", row["ceil_binary"], "(info)", -1)
	printf "  %-48s %8.1f MiB %-9s %s\n", "peak RSS of pull (X25519 identity, any round)", rssmax / 1024, \
		"< 64 MiB", (rssmax / 1024 < 64 ? "PASS" : "FAIL")
	r = s[p2] / s[p]
	printf "  %-48s %8.2f%%  %-10s %s\n", sprintf("no-op incremental pull time / full (%.2f s)", s[p2]), \
		100 * r, "< 2%", (r < 0.02 ? "PASS" : "FAIL")
	printf "  %-48s %8.1f MB/s %-8s\n", "ceiling throughput (fastest round)", cb / 1e6 / s[cbest], "(info)"
	printf "  %-48s %8.1f MB/s %-8s\n", "pull throughput (median round)", cb / 1e6 / s[p], "(info)"
}
# t NAME PEER-ROW TARGET MIN [OURS]: speed ratio = peer seconds / our
# seconds (ours: the median pull unless given)
function t(name, peer, target, min, ours,   x, cr) {
	if (ours == "") ours = p
	x = s[peer] / s[ours]
	cr = (cc[ours] + sc[ours] > 0) ? sprintf("%.2fx", (cc[peer] + sc[peer]) / (cc[ours] + sc[ours])) : "-"
	printf "  %-48s %8.2fx  %-10s %-8s %s\n", name, x, target, \
		(min < 0 ? "" : (x >= min ? "PASS" : "FAIL")), cr
}' "$PRES"

echo
echo "full pull:   $(grep -m1 '^version' "$PR/log/mv_pull_r$ROUNDS.out" || echo '?'); archive $IBYTES bytes (round $ROUNDS)"
echo "no-op pull:  $(grep -m1 '^version' "$PR/log/mv_pull2.out" || echo '?')"
echo "mbsync:      $MBSYNC_FILES messages in the Maildir it wrote"
for _f in "$PR"/log/mv_pull_r*.err; do
	[ -s "$_f" ] && echo "pull stderr ($(basename "$_f" .err)): $(wc -l < "$_f") lines, e.g. $(head -n 1 "$_f")"
done
echo "logs: $PR/log (KEY.time/out/err, KEY.dovecot = Dovecot's log lines of that run)"

# Stop the server now (the next section starts its own); the EXIT trap is
# for a run that fails on the way.
if [ "${BENCH_PULL_KEEP:-0}" = 1 ]; then
	say "pull: Dovecot left running: . tests/imap/dovecot.sh; dv_stop $DV_DIR"
else
	dv_stop_all > /dev/null 2>&1 || :
fi
trap - EXIT
