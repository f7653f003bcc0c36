# bench/imap_measure.sh - what the IMAP sections of `make bench` (pull.sh,
# push.sh) use to measure the throwaway Dovecot of tests/imap/dovecot.sh
# (sourced after it; acts on the current instance, DV_DIR/DV_INSTANCE).
#
#   dv_cpu      prints the CPU seconds the instance has used so far
#   dv_settle   waits until the last session's processes are gone

HZ=$(getconf CLK_TCK)
# dv_cpu: CPU seconds Dovecot has used so far: the master's own and its
# reaped children's (cutime + cstime), plus every live child's own.
dv_cpu() {
	_mp=$(cat "$DV_DIR/run/master.pid")
	{
		echo "M $(cat "/proc/$_mp/stat")"
		for _p in $(pgrep -f "^dovecot-$DV_INSTANCE/"); do
			[ "$_p" = "$_mp" ] || echo "C $(cat "/proc/$_p/stat" 2> /dev/null)"
		done
	} | awk -v hz="$HZ" '{
		k = $1; sub(/^.*\) /, "")
		t = $12 + $13; if (k == "M") t += $14 + $15; s += t
	} END {printf "%.2f\n", s / hz}'
}
# dv_settle: waits (up to 20 s) until the session's imap and imap-login
# processes have exited, so their CPU is in the master's cutime and their
# log line is written.
dv_settle() {
	_i=0
	while pgrep -f "^dovecot-$DV_INSTANCE/imap" > /dev/null && [ "$_i" -lt 200 ]; do
		sleep 0.1
		_i=$((_i + 1))
	done
	sleep 0.3
}
