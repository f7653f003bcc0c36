#!/bin/sh
# bench/imap_ceiling.sh - the server's ceiling for bench/pull.sh: a bare
# reader the project did not write.  `openssl s_client` is fed, in one
# pipelined write, a LOGIN, then for every folder an EXAMINE and a
# `UID FETCH 1:* (BODY.PEEK[])`, then LOGOUT; everything the server sends
# goes to /dev/null.
#
#   sh bench/imap_ceiling.sh PORT CAFILE USER PASSFILE FOLDERLIST [ITEM]
#
# ITEM is what is fetched, BODY.PEEK[] unless given (BINARY.PEEK[] shows
# what the server's RFC 3516 conversion costs: mbox-vault fetches that).
# FOLDERLIST: one selectable folder name a line, as IMAP names it (UTF-8
# names would need modified UTF-7; the bench corpus has none).  The
# password is read from PASSFILE by the shell's own `read` and written by
# its builtin printf, so it is never on any process's argv.
#
# s_client -quiet implies -ign_eof: the end of its stdin (the commands are
# all written at once) does not close the connection; it exits when the
# server closes it after LOGOUT, i.e. once every response has been read.
# It cannot tell a failed LOGIN or FETCH from a good one: bench/pull.sh
# checks the server's own count of bodies sent (Dovecot's log) instead.
set -eu
[ $# = 5 ] || [ $# = 6 ] || { echo "usage: $0 PORT CAFILE USER PASSFILE FOLDERLIST [ITEM]" >&2; exit 2; }
port=$1 ca=$2 user=$3 pf=$4 fl=$5 item=${6:-BODY.PEEK[]}
q() { printf '%s' "$1" | sed 's/[\\"]/\\&/g'; }   # IMAP quoted string body
{
	IFS= read -r pw < "$pf" || [ -n "$pw" ]
	printf 'a LOGIN "%s" "%s"\r\n' "$(q "$user")" "$(q "$pw")"
	n=0
	while IFS= read -r f; do
		[ -n "$f" ] || continue
		n=$((n + 1))
		printf 'e%d EXAMINE "%s"\r\nf%d UID FETCH 1:* (%s)\r\n' \
			"$n" "$(q "$f")" "$n" "$item"
	done < "$fl"
	printf 'z LOGOUT\r\n'
} | openssl s_client -quiet -connect "127.0.0.1:$port" -CAfile "$ca" \
	-verify_ip 127.0.0.1 -verify_return_error > /dev/null
