# bench/push.sh - the push section of `make bench` (sourced by bench/run.sh,
# which sets ROOT MV CORPUS CBYTES BENCH_SEED RUN ID TIME and say die
# files_of wait_quiet cpu_busy; BENCH_SECTIONS=push runs this one alone).
#
# Setup (untimed): an archive of the corpus as a migration makes it, pulled
# over imaps from a source Dovecot holding the corpus (X25519 identity, so
# no Argon2 in any timed run).  When the pull section ran in the same run,
# its archive is used; else a throwaway source Dovecot is loaded with the
# corpus, pulled and stopped.  Then a fresh target Dovecot
# (tests/imap/dovecot.sh: its own config, CA and users under /tmp, on
# 127.0.0.1; nothing system-wide is touched; stopped on exit) with two
# empty accounts, and for mbsync a scratch copy of the corpus (mbsync
# writes into the Maildir it reads: UIDs in file names, .uidvalidity; the
# cached corpus must stay as generated).
#
# Timed, in one run, over imaps on loopback:
#
#   mbox-vault   `push ARCHIVE imaps://alice@127.0.0.1:PORT` into the empty
#                account alice (MULTIAPPEND batches, as Dovecot offers it)
#   mbsync       isync's mbsync, the Maildir copy into the empty account
#                bob: `Sync Push`, `Create Far`, `CopyArrivalDate yes` (so
#                that it keeps INTERNALDATE as push does), FSync yes
#                (defaults), state in a directory of its own; then the same
#                with `FSync no` into bob's account on a second fresh
#                instance (info)
#   mbox-vault   the same push again, with push's record of what it
#                appended (the no-op push from the same machine)
#   s_client     bench/imap_ceiling.sh reading alice's whole account once
#                (LOGIN, EXAMINE + UID FETCH 1:* (BODY.PEEK[]) per folder):
#                what one full read of the target costs
#   mbox-vault   the push again with --no-state (a machine without the
#                record): it lists sizes and dates and has to fetch and
#                hash every message whose size and date match
#
# Measured per run as in bench/pull.sh (bench/imap_measure.sh): wall
# seconds, peak RSS and user+system CPU of the client (GNU time), the CPU
# Dovecot spent (the master's own and reaped children's time from
# /proc/PID/stat plus its live children's: imap-login does TLS, imap parses
# and stores), from Dovecot's log line of each session the bytes it
# received (in=) and sent (out=) and the bodies it served, and how many
# messages the account gained (doveadm mailbox status before and after).
# A run that leaves the account with another count than it should (the
# whole mailbox after the first push and after mbsync, no change after a
# no-op push) is flagged.
#
# Environment (besides run.sh's):
#   BENCH_PUSH_MBSYNC_NOFSYNC=0  skip the mbsync `FSync no` run (and the
#                       second target instance it needs)
#   BENCH_PUSH_KEEP=1   leave the target Dovecots running and their
#                       directories in place at the end (prints how to
#                       stop them)

PU=$RUN/push
mkdir -p "$PU/log"
MV_TOP=$ROOT
. "$ROOT/tests/imap/dovecot.sh"
. "$ROOT/bench/imap_measure.sh"   # dv_cpu, dv_settle
# Only the instances this section starts are stopped here (the pull
# section's, with BENCH_PULL_KEEP=1, stays up).
PU_DV=
pu_stop() {
	for _d in $PU_DV; do dv_stop "$_d" > /dev/null 2>&1 || :; done
	PU_DV=
}
if [ "${BENCH_PUSH_KEEP:-0}" = 1 ]; then
	trap 'say "push: Dovecot left running: . tests/imap/dovecot.sh; for d in$PU_DV; do dv_stop \$d; done"' EXIT
else
	trap 'pu_stop' EXIT
fi
trap 'exit 130' INT TERM

# pu_count USER: the number of messages in USER's account (every folder).
pu_count() {
	dv_doveadm mailbox status -u "$1" messages '*' 2> "$PU/log/status.err" |
		awk '{for (i = 1; i <= NF; i++) if ($i ~ /^messages=/) m += substr($i, 10)} END {printf "%d\n", m}'
}

# ---- the archive (untimed) -------------------------------------------------------
NMSG=$(files_of "$CORPUS")
if [ -f "$RUN/pull/I.mvault" ]; then
	A=$RUN/pull/I.mvault
	A_FROM="the pull section's archive ($A)"
	say "push: using the pull section's archive $A"
else
	A=$PU/P.mvault
	say "push: starting a source Dovecot and loading the corpus (untimed setup)"
	dv_start benchsrc || die "push: the source Dovecot did not start"
	PU_DV="$PU_DV $DV_DIR"
	dv_load alice "$CORPUS" || die "push: dv_load failed"
	say "push: pulling it into $A (untimed setup)"
	"$MV" pull "imaps://alice@127.0.0.1:$DV_PORT_IMAPS" "$A" --identity "$ID" \
		--cacert "$DV_CA" --password-file "$DV_PASS_alice" \
		> "$PU/log/setup_pull.out" 2> "$PU/log/setup_pull.err" ||
		die "push: setup pull failed: $(tail -n 5 "$PU/log/setup_pull.err")"
	dv_stop "$DV_DIR" > /dev/null 2>&1
	PU_DV=
	A_FROM="pulled over imaps from a source Dovecot loaded with the corpus ($A)"
fi
A_MSGS=$("$MV" ls "$A" --json --identity "$ID" 2> "$PU/log/ls.err" | grep -c '"uid"' || :)
[ "$A_MSGS" = "$NMSG" ] ||
	die "push: the archive holds $A_MSGS messages, the corpus $NMSG ($(head -n 3 "$PU/log/ls.err"))"

# ---- the targets and mbsync's Maildir (untimed) ---------------------------------
getent ahosts localhost | awk '{print $1}' | grep -qx 127.0.0.1 ||
	die "push: localhost does not resolve to 127.0.0.1 (mbsync connects to it)"
# mbsync_setup NAME FSYNC: a scratch copy of the corpus, a state directory
# and the config NAME.conf pushing it into bob's account on the current
# instance.  Maildir++ (as the corpus is laid out): Inbox is the root,
# Path must not be set.  "localhost" because isync 1.4 matches the
# certificate's DNS names only (see bench/pull.sh).
mbsync_setup() {
	rm -rf "$PU/$1-src" "$PU/$1-state"
	mkdir -p "$PU/$1-src" "$PU/$1-state"
	cp -a "$CORPUS/." "$PU/$1-src/"
	cat > "$PU/$1.conf" <<EOF
FSync $2

IMAPAccount benchpush
Host localhost
Port $DV_PORT_IMAPS
User bob
PassCmd "cat $DV_PASS_bob"
SSLType IMAPS
CertificateFile $DV_CA

IMAPStore far
Account benchpush

MaildirStore near
Inbox $PU/$1-src
SubFolders Maildir++

Channel push
Far :far:
Near :near:
Patterns *
Create Far
Sync Push
CopyArrivalDate yes
SyncState $PU/$1-state/
EOF
}
NOFSYNC=${BENCH_PUSH_MBSYNC_NOFSYNC:-1}
if [ "$NOFSYNC" != 0 ]; then
	# mbsync with `FSync no` (info) needs an empty account of its own: a
	# second fresh instance, used for that run only.
	say "push: starting a second target Dovecot (mbsync FSync no)"
	dv_start benchpush2 || die "push: the second target Dovecot did not start"
	PU_DV="$PU_DV $DV_DIR"
	T2_DIR=$DV_DIR
	say "push: copying the corpus for mbsync FSync no"
	mbsync_setup mbsync-nofsync no
fi
say "push: starting a fresh target Dovecot"
dv_start benchpush || die "push: the target Dovecot did not start"
PU_DV="$PU_DV $DV_DIR"
T1_DIR=$DV_DIR
URL="imaps://alice@127.0.0.1:$DV_PORT_IMAPS"
say "push: copying the corpus for mbsync (it writes into the Maildir it reads)"
mbsync_setup mbsync yes

# ---- measuring -------------------------------------------------------------------
URES=$PU/results.tsv
: > "$URES"
# urun KEY TOOL OPERATION USER -- COMMAND...: one timed run; appends
#   key tool op seconds rss_kib client_cpu server_cpu wire_in wire_out
#   bodies sessions added
# (added: messages USER's account gained).
urun() {
	key=$1 tool=$2 op=$3 user=$4
	shift 5
	dv_settle
	sync
	nlog=$(wc -l < "$DV_LOG")
	n0=$(pu_count "$user")
	c0=$(dv_cpu)
	say "  $tool $op"
	if ! "$TIME" -f '%e %M %U %S' -o "$PU/log/$key.time" "$@" \
		> "$PU/log/$key.out" 2> "$PU/log/$key.err"; then
		say "FAILED: $*"
		tail -n 20 "$PU/log/$key.err" >&2
		exit 1
	fi
	dv_settle
	c1=$(dv_cpu)
	n1=$(pu_count "$user")
	tail -n +"$((nlog + 1))" "$DV_LOG" > "$PU/log/$key.dovecot"
	set -- $(tail -n 1 "$PU/log/$key.time")
	_secs=$1 _rss=$2 _cpu=$(echo "$3 $4" | awk '{printf "%.2f", $1 + $2}')
	set -- $(awk -v u="$user" '$0 ~ ("imap\\(" u "\\).*Disconnected") { n++
		for (i = 1; i <= NF; i++) {
			if ($i ~ /^in=/) in_ += substr($i, 4)
			if ($i ~ /^out=/) o += substr($i, 5)
			if ($i ~ /^body_count=/) b += substr($i, 12)
		} } END {printf "%d %d %d %d\n", in_, o, b, n}' "$PU/log/$key.dovecot")
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$key" "$tool" "$op" \
		"$_secs" "$_rss" "$_cpu" "$(echo "$c0 $c1" | awk '{printf "%.2f", $2 - $1}')" \
		"$1" "$2" "$3" "$4" "$((n1 - n0))" >> "$URES"
}

# ---- timed runs ------------------------------------------------------------------
say "push: timed runs over imaps on 127.0.0.1:$DV_PORT_IMAPS"
wait_quiet
BUSY0=$(cpu_busy)
urun mv_push "mbox-vault" "push imaps:// (empty account)" alice -- \
	"$MV" push "$A" "$URL" --identity "$ID" --cacert "$DV_CA" --password-file "$DV_PASS_alice"
urun mbsync "mbsync" "-a, Maildir -> empty account" bob -- mbsync -c "$PU/mbsync.conf" -a
if [ "$NOFSYNC" != 0 ]; then
	dv_select "$T2_DIR"
	urun mbsync_nofsync "mbsync" "the same with FSync no (info)" bob -- \
		mbsync -c "$PU/mbsync-nofsync.conf" -a
	dv_select "$T1_DIR"
fi
urun mv_push2 "mbox-vault" "push again (with the record)" alice -- \
	"$MV" push "$A" "$URL" --identity "$ID" --cacert "$DV_CA" --password-file "$DV_PASS_alice"
dv_doveadm mailbox status -u alice messages '*' > "$PU/status.txt" 2> "$PU/log/status.err" ||
	die "push: doveadm mailbox status failed: $(cat "$PU/log/status.err")"
sed -n 's/ messages=[0-9]*$//p' "$PU/status.txt" > "$PU/folders.txt"
urun ceil "s_client" "one full read of the account" alice -- \
	sh "$ROOT/bench/imap_ceiling.sh" "$DV_PORT_IMAPS" "$DV_CA" alice "$DV_PASS_alice" "$PU/folders.txt"
urun mv_push3 "mbox-vault" "push again --no-state" alice -- \
	"$MV" push "$A" "$URL" --identity "$ID" --cacert "$DV_CA" --password-file "$DV_PASS_alice" --no-state
BUSY1=$(cpu_busy)
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
UPTIME_END=$(uptime)
rm -rf "$PU/mbsync-src" "$PU/mbsync-nofsync-src"
# Untimed: is what the pushes left in alice's account the archive's
# version, byte for byte?  (verify --against; extras are what a no-op push
# appended again.)
say "push: verify --against the target (untimed check)"
"$MV" verify "$A" --against "$URL" --json --identity "$ID" --cacert "$DV_CA" \
	--password-file "$DV_PASS_alice" > "$PU/log/verify.out" 2> "$PU/log/verify.err" || :
VERIFY=$(sed -n 's/^{"event":"result",//p' "$PU/log/verify.out" | tr -d '{}"')
[ -n "$VERIFY" ] || VERIFY="no result ($(head -n 2 "$PU/log/verify.err"))"

OTHER=$(awk -F'\t' -v b0="$BUSY0" -v b1="$BUSY1" '{s += $4; c += $6 + $7} END {
	o = b1 - b0 - c; if (o < 0) o = 0
	printf "%.1f CPU-s used by other processes during %.0f s of timed runs (%.0f%% of one core)%s", o, s, 100 * o / s, (o / s > 0.1 ? "  -- WARNING: machine not quiet, numbers skewed" : "")
}' "$URES")

# ---- table -----------------------------------------------------------------------
MV_VER=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')
{
echo
echo "mbox-vault IMAP push benchmark  (commit $MV_VER$([ -z "$(git -C "$ROOT" status --porcelain -- src Makefile 2>/dev/null)" ] || echo ', with uncommitted changes in src/'))"
echo "machine: $(nproc) cores, $(free -g | awk '/^Mem:/{print $2}') GiB, $(uname -r); Dovecot $(dovecot --version | cut -d' ' -f1), $(mbsync --version 2>&1 | head -n 1), $(openssl version | cut -d' ' -f1,2)"
echo "corpus: $NMSG messages, $CBYTES bytes of Maildir files, seed $BENCH_SEED ($CORPUS)"
echo "archive: $A_FROM, $A_MSGS messages"
echo "target: a fresh throwaway Dovecot over imaps on 127.0.0.1 (tests/imap/dovecot.sh); alice (mbox-vault) and bob (mbsync) empty$([ "$NOFSYNC" = 0 ] || echo ";
  mbsync FSync no: bob on a second fresh instance")"
echo "load average (1/5/15 min): $LOAD_BEFORE before, $LOAD_START at start (waited ${w}s), $LOAD_END at end"
echo "uptime before: $UPTIME_BEFORE"
echo "uptime after:  $UPTIME_END"
echo "other load: $OTHER"
echo "MB/s = Maildir bytes / 10^6 / wall seconds (the same mailbox for every row).  in/out MB = what Dovecot received/sent,"
echo "from its log.  bodies = messages Dovecot served.  added = messages the account gained.  client CPU = user + system of"
echo "the command (GNU time); server CPU = Dovecot's, all its processes.  RSS = peak of the largest client process."
echo "time x = seconds / the first push's seconds."
echo
} 

awk -F'\t' -v cb="$CBYTES" -v msgs="$NMSG" '
{
	key[NR] = $1; tool[NR] = $2; op[NR] = $3; s[NR] = $4; rss[NR] = $5
	cc[NR] = $6; sc[NR] = $7; win[NR] = $8; wout[NR] = $9; bod[NR] = $10
	ses[NR] = $11; add[NR] = $12
	row[$1] = NR
}
END {
	p = row["mv_push"]; p2 = row["mv_push2"]; p3 = row["mv_push3"]; m = row["mbsync"]
	c = row["ceil"]
	hdr = sprintf("%-11s %-32s %8s %7s %7s %7s %7s %8s %8s %7s %8s %7s %7s", "tool", "operation", \
		"seconds", "MB/s", "clntCPU", "srvCPU", "RSS MiB", "in MB", "out MB", "bodies", \
		"sessions", "added", "time x")
	print hdr; gsub(/./, "-", hdr); print hdr
	bad = ""
	for (i = 1; i <= NR; i++) {
		want = (key[i] == "mv_push" || key[i] ~ /^mbsync/) ? msgs : 0
		flag = (add[i] == want) ? "" : " !"
		if (flag != "") bad = bad " " key[i]
		printf "%-11s %-32s %8.2f %7.1f %7.2f %7.2f %7.1f %8.1f %8.1f %7d %8d %7d%-2s %6.3f\n", \
			tool[i], op[i], s[i], (s[i] > 0 ? cb / 1e6 / s[i] : 0), cc[i], sc[i], rss[i] / 1024, \
			win[i] / 1e6, wout[i] / 1e6, bod[i], ses[i], add[i], flag, s[i] / s[p]
	}
	if (bad != "")
		print "  ! the account gained another number of messages than it should (" msgs " for a push into an empty account, 0 for a no-op push):" bad
	print ""
	print "targets (issue; wall-clock ratios in this one run decide; CPU ratios shown for a busy machine)"
	print "                                                     measured   target     result   CPU ratio (client+server)"
	x = s[m] / s[p]
	printf "  %-48s %8.2fx  %-10s %-8s %.2fx\n", "push speed vs mbsync (Maildir -> IMAP)", x, ">= 1.50x", \
		(x >= 1.5 ? "PASS" : "FAIL"), (cc[m] + sc[m]) / (cc[p] + sc[p])
	if ("mbsync_nofsync" in row) {
		m2 = row["mbsync_nofsync"]; x = s[m2] / s[p]
		printf "  %-48s %8.2fx  %-10s %-8s %.2fx\n", "push speed vs mbsync FSync no", x, "(info)", \
			"", (cc[m2] + sc[m2]) / (cc[p] + sc[p])
	}
	printf "  %-48s %8.1f MiB %-9s %s\n", "peak RSS of push (X25519 identity)", rss[p] / 1024, \
		"< 64 MiB", (rss[p] / 1024 < 64 ? "PASS" : "FAIL")
	r = s[p2] / s[p]
	printf "  %-48s %8.2f%%  %-10s %s\n", sprintf("no-op push (record) time / first (%.2f s)", s[p2]), \
		100 * r, "< 5%", (r < 0.05 ? "PASS" : "FAIL")
	# "At most one full read of the target": what Dovecot sent against what
	# it sent the s_client reader for the whole account (push fetches
	# BINARY.PEEK[] where offered: base64 parts come decoded, fewer bytes).
	r = wout[p3] / wout[c]
	printf "  %-48s %8.2fx  %-10s %s\n", "no-op push --no-state: bytes read / full read", \
		r, "<= 1.05x", (r <= 1.05 ? "PASS" : "FAIL")
	r = s[p3] / s[c]
	printf "  %-48s %8.2fx  %-10s %s\n", sprintf("no-op push --no-state time / full read (%.2f s)", s[c]), \
		r, "(info)", ""
	r = s[p3] / s[p]
	printf "  %-48s %8.2fx  %-10s %s\n", "no-op push --no-state time / first push", \
		r, "< 1.00x", (r < 1 ? "PASS" : "FAIL")
	printf "  %-48s %8d    %-10s %s\n", "messages appended by the two no-op pushes", \
		add[p2] + add[p3], "0", (add[p2] + add[p3] == 0 ? "PASS" : "FAIL")
	printf "  %-48s %8.1f MB/s %-8s\n", "push throughput", cb / 1e6 / s[p], "(info)"
	printf "  %-48s %8.1f MB/s %-8s\n", "mbsync throughput", cb / 1e6 / s[m], "(info)"
}' "$URES"

echo
echo "first push:        $(grep -m1 '^version' "$PU/log/mv_push.out" || echo '?')"
echo "push (record):     $(grep -m1 '^version' "$PU/log/mv_push2.out" || echo '?')"
echo "push --no-state:   $(grep -m1 '^version' "$PU/log/mv_push3.out" || echo '?')"
echo "accounts after:    alice $(pu_count alice) messages, bob $(pu_count bob) messages"
echo "verify --against alice after the three pushes (untimed): $VERIFY"
case $VERIFY in
*match:true*|*missing:0,extra:*,altered:0,*) echo "  verify --against finds every message of the archive on the target (none missing or altered): PASS" ;;
*) echo "  verify --against finds every message of the archive on the target (none missing or altered): FAIL" ;;
esac
[ -s "$PU/log/mv_push.err" ] && echo "push stderr: $(wc -l < "$PU/log/mv_push.err") lines, e.g. $(head -n 1 "$PU/log/mv_push.err")"
echo "logs: $PU/log (KEY.time/out/err, KEY.dovecot = Dovecot's log lines of that run)"

if [ "${BENCH_PUSH_KEEP:-0}" != 1 ]; then
	pu_stop
	trap - EXIT
fi
