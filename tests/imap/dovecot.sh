# dovecot.sh - throwaway Dovecot IMAP servers for the tests and the demo
# (sourced, POSIX sh).
#
#   . tests/imap/dovecot.sh
#   dv_start src                # or: dv_start src PORT_IMAPS PORT_IMAP
#   dv_load alice ./Maildir     # a Maildir++ tree becomes alice's mailbox
#   ... imaps://127.0.0.1:$DV_PORT_IMAPS, CA in $DV_CA,
#   ... password of alice in the file $DV_PASS_alice ...
#   dv_stop                     # or dv_stop_all, e.g. from an EXIT trap
#
# Each instance lives in its own temporary directory (DV_DIR, under
# ${DV_TMP:-/tmp}; not under $TMPDIR because the unprivileged Dovecot
# processes must be able to reach it) with:
#   dovecot.conf                 its whole configuration (nothing is read
#                                from /etc/dovecot; the system service is
#                                never touched)
#   ssl/ca.pem, ssl/ca.key       a test CA made for this instance
#   ssl/server.pem, server.key   its server certificate, subjectAltName
#                                IP:127.0.0.1 and DNS:localhost
#   secrets/pass.USER            each user's password, mode 0600, made here
#   secrets/token.USER           each user's OAuth2 token (dv_start_oauth)
#   users                        the passwd-file (salted SHA-512 hashes)
#   mail/USER                    Maildir++ mailboxes (mail_location)
#   log/dovecot.log              everything Dovecot logs
#   run/, state/                 base_dir and state_dir
#
# The server listens on 127.0.0.1 only: PORT_IMAPS with implicit TLS and
# PORT_IMAP offering STARTTLS (ssl = required, TLS 1.2 minimum; Dovecot
# still treats 127.0.0.1 as secure and allows a plaintext LOGIN there, so
# it is the client that must insist on STARTTLS).  Users: alice and bob.
# The INBOX namespace has the special-use folders Sent, Drafts, Trash,
# Junk and Archive (auto = subscribe) and the separator $DV_SEPARATOR
# ("/" unless set before dv_start; "." is the other Maildir++ choice).
# Failed logins are logged (auth_verbose, never with the password) and
# carry no growing anvil penalty, so tests may fail logins and go on.
# DV_WANT_QUOTA, if set before dv_start (cleared by it; or dv_quota
# later), turns on Dovecot's quota plugin (maildir backend) for every user
# of that instance (its DV_QUOTA); the words are
# "storage=SIZE" and "messages=N" (the quota rule) and "max_mail_size=SIZE"
# (quota_max_mail_size: a larger message is refused whatever the quota
# holds), e.g. DV_WANT_QUOTA="max_mail_size=20k" or "storage=1M messages=100".
# Unset (the default), there is no quota plugin at all.
# Ports left out or given as 0 are picked free, from 20000 + ($$ % 1000) * 8
# upwards, and picked again if Dovecot finds them taken.
#
# Privileges: run as root, the master stays root (as Dovecot's own design
# wants) and every other process -- imap, imap-login, auth, log, anvil,
# stats -- runs as $DV_RUN_USER (default: the "dovecot" account that the
# Debian package creates, else "nobody"), which also owns the mail.  Run
# as another user, everything runs as that user.
#
# After dv_start these are exported (and saved in $DV_DIR/env, so that
# `dv_select DIR` can switch between several instances):
#   DV_DIR DV_CONF DV_LOG DV_CA DV_PORT_IMAPS DV_PORT_IMAP DV_INSTANCE
#   DV_RUN_USER DV_PASS_alice DV_PASS_bob DV_PLAINTEXT DV_QUOTA
# and after dv_start_oauth also DV_OAUTH_PORT DV_OAUTH_MECHS DV_TOKEN_alice
# DV_TOKEN_bob.
#
# Functions (each returns non-zero, with a message on stderr, on failure):
#   dv_start NAME [PORT_IMAPS [PORT_IMAP]]
#   dv_start_oauth NAME [PORT_IMAPS [PORT_IMAP]]
#           the same, plus OAUTHBEARER and XOAUTH2 checked by Dovecot's
#           oauth2 passdb against tests/imap/oauth_server.py (a local
#           token-introspection endpoint over plain HTTP on 127.0.0.1);
#           DV_WANT_OAUTH_MECHS, if set, replaces the mechanisms offered
#           ("oauthbearer xoauth2"), e.g. "xoauth2" alone
#   dv_start_plaintext NAME [PORT_IMAPS [PORT_IMAP]]
#           the same as dv_start but without any TLS (ssl = no): no
#           STARTTLS is offered, both ports speak plaintext, and a
#           plaintext LOGIN from 127.0.0.1 is accepted -- for checking
#           that clients refuse it
#   dv_load USER MAILDIR_SRC   copies the tree (times kept) into USER's
#           mailbox and runs `doveadm force-resync`, so UIDs are assigned
#   dv_doveadm ARGS...         doveadm against the current instance
#   dv_kill                    SIGKILL to every process of the instance
#           (the server "crashes"; the directory stays)
#   dv_restart                 dv_kill if needed, then start it again on
#           the same ports, certificate, passwords and mail
#   dv_quota "WORDS"           rewrites the current instance's quota
#           (DV_QUOTA, as above; "" for none) and restarts it
#   dv_stop [DIR]              stops the instance, removes its directory
#   dv_stop_all                dv_stop for every instance this shell started
#   dv_select DIR              makes DIR the current instance
#   dv_pids                    the pids of the current instance's processes
#
# Needs: dovecot-imapd (dovecot-core), openssl, python3.

# Where this file and oauth_server.py are: sh cannot tell a sourced file
# its own path, so look where the callers live (tests/e2e, tests, the top).
if [ -z "${DV_HERE:-}" ]; then
	for _dv_d in "${MV_TOP:-/nonexistent}/tests/imap" "$(dirname "$0")/../imap" \
		"$(dirname "$0")/imap" "$(dirname "$0")/tests/imap" "$(dirname "$0")"; do
		if [ -f "$_dv_d/oauth_server.py" ]; then
			DV_HERE=$(cd "$_dv_d" && pwd)
			break
		fi
	done
fi
DV_ALL=${DV_ALL:-}
DV_USERS="alice bob"

_dv_err() { echo "dovecot.sh: $*" >&2; return 1; }

# The interpreter: $DV_PYTHON, else the system's python3 (a version
# manager's shim in PATH can take seconds to start, and this runs many
# one-offs), else whatever python3 PATH gives.
if [ -z "${DV_PYTHON:-}" ]; then
	if [ -x /usr/bin/python3 ]; then DV_PYTHON=/usr/bin/python3; else DV_PYTHON=python3; fi
fi

# _dv_py CODE ARGS...: a python3 one-off.
_dv_py() { _dv_code=$1; shift; "$DV_PYTHON" -c "$_dv_code" "$@"; }

# dv_port_free PORT: true when nothing listens on 127.0.0.1:PORT and it
# can be bound.
dv_port_free() {
	_dv_py '
import socket, sys
s = socket.socket()
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
' "$1"
}

# _dv_pick_ports: sets _dv_ps and _dv_pp to two free ports from $_dv_next
# on (one python run scans them all), and moves _dv_next past them.
_dv_pick_ports() {
	: "${_dv_next:=$((20000 + ($$ % 1000) * 8))}"
	_dv_ports=$(_dv_py '
import socket, sys
p = int(sys.argv[1])
found = []
for _ in range(400):
    if p > 60000:
        p = 20000
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
        found.append(p)
    except OSError:
        pass
    finally:
        s.close()
    p += 1
    if len(found) == 2:
        print(found[0], found[1], p)
        sys.exit(0)
sys.exit(1)
' "$_dv_next") || { _dv_err "no free port found"; return 1; }
	set -- $_dv_ports
	_dv_ps=$1
	_dv_pp=$2
	_dv_next=$3
}

# dv_wait_port PORT [SECONDS]: waits until 127.0.0.1:PORT accepts.
dv_wait_port() {
	_dv_py '
import socket, sys, time
end = time.time() + float(sys.argv[2])
while True:
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()
        sys.exit(0)
    except OSError:
        if time.time() > end:
            sys.exit(1)
        time.sleep(0.05)
' "$1" "${2:-15}"
}

_dv_secret() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }

_dv_make_certs() {
	_dv_s=$DV_DIR/ssl
	mkdir -p "$_dv_s" && chmod 700 "$_dv_s" || return 1
	# P-256 keys: made in milliseconds, accepted by every TLS 1.2+ client.
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$_dv_s/ca.key" -out "$_dv_s/ca.pem" -days 30 \
		-subj "/CN=mbox-vault test CA $DV_INSTANCE" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" \
		>/dev/null 2>"$DV_DIR/openssl.err" || return 1
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$_dv_s/server.key" -out "$_dv_s/server.csr" \
		-subj "/CN=localhost" >/dev/null 2>>"$DV_DIR/openssl.err" || return 1
	printf '%s\n' "basicConstraints=critical,CA:FALSE" \
		"keyUsage=critical,digitalSignature" \
		"extendedKeyUsage=serverAuth" \
		"subjectAltName=IP:127.0.0.1,DNS:localhost" >"$_dv_s/server.ext"
	openssl x509 -req -in "$_dv_s/server.csr" -CA "$_dv_s/ca.pem" \
		-CAkey "$_dv_s/ca.key" -set_serial "0x$(_dv_secret 8)" -days 30 \
		-extfile "$_dv_s/server.ext" -out "$_dv_s/server.pem" \
		>/dev/null 2>>"$DV_DIR/openssl.err" || return 1
	chmod 600 "$_dv_s/ca.key" "$_dv_s/server.key"
	chmod 644 "$_dv_s/ca.pem" "$_dv_s/server.pem"
	rm -f "$_dv_s/server.csr" "$DV_DIR/openssl.err"
	DV_CA=$_dv_s/ca.pem
}

# _dv_users: passwords (and tokens) in 0600 files, hashes in the
# passwd-file.  The passwords reach python through files, never argv.
_dv_users() {
	mkdir -p "$DV_DIR/secrets" && chmod 700 "$DV_DIR/secrets" || return 1
	: >"$DV_DIR/users"
	for _dv_u in $DV_USERS; do
		_dv_f=$DV_DIR/secrets/pass.$_dv_u
		(umask 077 && printf 'pw-%s\n' "$(_dv_secret 16)" >"$_dv_f") || return 1
		eval "DV_PASS_$_dv_u=\$_dv_f"
		mkdir -p "$DV_DIR/home/$_dv_u"
		_dv_py '
import base64, hashlib, os, sys
pw = open(sys.argv[1], "rb").read().split(b"\n")[0]
salt = os.urandom(16)
h = base64.b64encode(hashlib.sha512(pw + salt).digest() + salt).decode()
print("%s:{SSHA512}%s::::%s::" % (sys.argv[2], h, sys.argv[3]))
' "$_dv_f" "$_dv_u" "$DV_DIR/home/$_dv_u" >>"$DV_DIR/users" || return 1
		if [ -n "$DV_OAUTH" ]; then
			_dv_f=$DV_DIR/secrets/token.$_dv_u
			(umask 077 && printf 'tok-%s\n' "$(_dv_secret 24)" >"$_dv_f") || return 1
			eval "DV_TOKEN_$_dv_u=\$_dv_f"
		fi
	done
	chmod 600 "$DV_DIR/users"
}

_dv_run_user() {
	if [ "$(id -u)" = 0 ]; then
		if [ -z "${DV_RUN_USER:-}" ]; then
			if getent passwd dovecot >/dev/null; then DV_RUN_USER=dovecot
			else DV_RUN_USER=nobody; fi
		fi
	else
		DV_RUN_USER=$(id -un)
	fi
	_dv_uid=$(id -u "$DV_RUN_USER") || { _dv_err "no user '$DV_RUN_USER'"; return 1; }
	_dv_gid=$(id -g "$DV_RUN_USER")
	DV_RUN_GROUP=$(id -gn "$DV_RUN_USER")
}

_dv_write_conf() {
	_dv_sep=${DV_SEP:-/}
	_dv_imaps_ssl=yes
	[ -n "$DV_PLAINTEXT" ] && _dv_imaps_ssl=no
	{
	cat <<EOF
# Written by tests/imap/dovecot.sh for one throwaway test instance.
instance_name = $DV_INSTANCE
protocols = imap
listen = 127.0.0.1
base_dir = $DV_DIR/run
state_dir = $DV_DIR/state
log_path = $DV_DIR/log/dovecot.log
info_log_path = $DV_DIR/log/dovecot.log
debug_log_path = $DV_DIR/log/dovecot.log
# Never log passwords, even on debug.
auth_debug_passwords = no
auth_verbose_passwords = no
auth_failure_delay = 0
# Failed logins are logged (without the password, see above), so that a
# test can tell "refused" from "never tried".
auth_verbose = yes
verbose_proctitle = yes
shutdown_clients = yes

default_internal_user = $DV_RUN_USER
default_internal_group = $DV_RUN_GROUP
default_login_user = $DV_RUN_USER
mail_uid = $DV_RUN_USER
mail_gid = $DV_RUN_GROUP
first_valid_uid = $_dv_uid
first_valid_gid = $_dv_gid
mail_location = maildir:$DV_DIR/mail/%u
mail_max_userip_connections = 100

EOF
	if [ -n "${DV_QUOTA:-}" ]; then
		_dv_rule= _dv_max=
		for _dv_q in $DV_QUOTA; do
			case $_dv_q in
			storage=*|messages=*) _dv_rule=$_dv_rule:$_dv_q ;;
			max_mail_size=*) _dv_max=${_dv_q#max_mail_size=} ;;
			*) _dv_err "DV_QUOTA: unknown word '$_dv_q'"; return 1 ;;
			esac
		done
		echo "# DV_QUOTA=$DV_QUOTA"
		echo "mail_plugins = \$mail_plugins quota"
		echo "plugin {"
		echo "  quota = maildir:User quota"
		[ -n "$_dv_rule" ] && echo "  quota_rule = *$_dv_rule"
		[ -n "$_dv_max" ] && echo "  quota_max_mail_size = $_dv_max"
		echo "}"
	fi
	if [ -n "$DV_PLAINTEXT" ]; then
		cat <<EOF
# DV_PLAINTEXT: no TLS at all, so no STARTTLS in the capabilities; both
# listeners speak plaintext, and 127.0.0.1 counts as secure, so a
# plaintext LOGIN is accepted.
ssl = no
EOF
	else
		cat <<EOF
ssl = required
ssl_cert = <$DV_DIR/ssl/server.pem
ssl_key = <$DV_DIR/ssl/server.key
ssl_min_protocol = TLSv1.2
EOF
	fi
	cat <<EOF

auth_mechanisms = plain login${DV_OAUTH:+ $DV_OAUTH_MECHS}
passdb {
  driver = passwd-file
  args = scheme=SSHA512 $DV_DIR/users
EOF
	[ -n "$DV_OAUTH" ] && echo "  mechanisms = plain login"
	cat <<EOF
}
EOF
	[ -n "$DV_OAUTH" ] && cat <<EOF
passdb {
  driver = oauth2
  mechanisms = $DV_OAUTH_MECHS
  args = $DV_DIR/oauth2.conf.ext
}
EOF
	cat <<EOF
userdb {
  driver = passwd-file
  args = $DV_DIR/users
}

namespace inbox {
  inbox = yes
  separator = $_dv_sep
  prefix =
  mailbox Sent {
    special_use = \\Sent
    auto = subscribe
  }
  mailbox Drafts {
    special_use = \\Drafts
    auto = subscribe
  }
  mailbox Trash {
    special_use = \\Trash
    auto = subscribe
  }
  mailbox Junk {
    special_use = \\Junk
    auto = subscribe
  }
  mailbox Archive {
    special_use = \\Archive
    auto = subscribe
  }
}

service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $DV_PORT_IMAP
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $DV_PORT_IMAPS
    ssl = $_dv_imaps_ssl
  }
  # No chroot: it needs root, and the instance may run without it.
  chroot =
}
service anvil {
  chroot =
  # No growing delay (up to 15 s) after failed logins from 127.0.0.1:
  # the tests fail logins on purpose, then log in again.
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
service auth {
  user = \$default_internal_user
}
service auth-worker {
  user = \$default_internal_user
}
service log {
  user = \$default_internal_user
}
EOF
	} >"$DV_CONF"
	if [ -n "$DV_OAUTH" ]; then
		cat >"$DV_DIR/oauth2.conf.ext" <<EOF
introspection_mode = post
introspection_url = http://127.0.0.1:$DV_OAUTH_PORT/introspect
force_introspection = yes
username_attribute = username
active_attribute = active
active_value = true
EOF
	fi
}

_dv_save_env() {
	{
		for _dv_v in DV_DIR DV_CONF DV_LOG DV_CA DV_PORT_IMAPS DV_PORT_IMAP \
			DV_INSTANCE DV_RUN_USER DV_RUN_GROUP DV_OAUTH DV_OAUTH_PORT \
			DV_OAUTH_PID DV_AUTO_PORTS DV_PLAINTEXT DV_OAUTH_MECHS DV_QUOTA \
			DV_SEP; do
			eval "printf '%s=%s\n' \"\$_dv_v\" \"'\${$_dv_v:-}'\""
		done
		for _dv_u in $DV_USERS; do
			printf "DV_PASS_%s='%s'\n" "$_dv_u" "$DV_DIR/secrets/pass.$_dv_u"
			[ -n "$DV_OAUTH" ] &&
				printf "DV_TOKEN_%s='%s'\n" "$_dv_u" "$DV_DIR/secrets/token.$_dv_u"
		done
	} >"$DV_DIR/env"
}

# dv_select DIR: makes DIR the current instance (exports its variables).
dv_select() {
	[ -f "$1/env" ] || { _dv_err "'$1' is not a dovecot.sh instance"; return 1; }
	unset DV_OAUTH_PORT DV_OAUTH_PID DV_TOKEN_alice DV_TOKEN_bob DV_PLAINTEXT \
		DV_OAUTH_MECHS DV_QUOTA DV_SEP
	. "$1/env"
	export DV_DIR DV_CONF DV_LOG DV_CA DV_PORT_IMAPS DV_PORT_IMAP DV_INSTANCE \
		DV_RUN_USER DV_PASS_alice DV_PASS_bob DV_PLAINTEXT
	if [ -n "$DV_OAUTH" ]; then
		export DV_OAUTH_PORT DV_OAUTH_MECHS DV_TOKEN_alice DV_TOKEN_bob
	fi
}

# dv_pids: every live process of the current instance.  Dovecot prefixes
# the name of each child process with "dovecot-" and instance_name; the
# master carries the config path in its argv.  Both are unique to the
# instance.
dv_pids() {
	[ -n "${DV_INSTANCE:-}" ] || return 0
	{
		pgrep -f "^dovecot-$DV_INSTANCE/"
		pgrep -f "dovecot -c $DV_CONF"
		[ -n "${DV_OAUTH_PID:-}" ] && kill -0 "$DV_OAUTH_PID" 2>/dev/null &&
			echo "$DV_OAUTH_PID"
	} 2>/dev/null | sort -un
}

_dv_master_pid() {
	[ -f "$DV_DIR/run/master.pid" ] && cat "$DV_DIR/run/master.pid" 2>/dev/null
}

_dv_start_oauth_server() {
	[ -n "$DV_OAUTH" ] || return 0
	"$DV_PYTHON" "$DV_HERE/oauth_server.py" --port-file "$DV_DIR/oauth.port" \
		--tokens "$DV_DIR/secrets" --log "$DV_DIR/log/oauth.log" \
		</dev/null >/dev/null 2>>"$DV_DIR/log/oauth.log" &
	DV_OAUTH_PID=$!
	_dv_i=0
	while [ ! -s "$DV_DIR/oauth.port" ]; do
		_dv_i=$((_dv_i + 1))
		if [ "$_dv_i" -gt 200 ] || ! kill -0 "$DV_OAUTH_PID" 2>/dev/null; then
			_dv_err "the token endpoint did not start: $(tail -3 "$DV_DIR/log/oauth.log")"
			return 1
		fi
		sleep 0.05
	done
	DV_OAUTH_PORT=$(cat "$DV_DIR/oauth.port")
}

# _dv_launch: starts the master and waits for both ports; status 2 means
# a port was taken.
_dv_launch() {
	if ! dovecot -c "$DV_CONF" 2>"$DV_DIR/log/start.err"; then
		grep -q 'in use' "$DV_DIR/log/start.err" "$DV_LOG" 2>/dev/null && return 2
		_dv_err "dovecot did not start: $(tail -n 5 "$DV_DIR/log/start.err" 2>&1;
			[ -f "$DV_LOG" ] && tail -n 5 "$DV_LOG")"
		return 1
	fi
	if ! dv_wait_port "$DV_PORT_IMAPS" || ! dv_wait_port "$DV_PORT_IMAP"; then
		_dv_err "dovecot does not answer on $DV_PORT_IMAPS/$DV_PORT_IMAP: $(tail -5 "$DV_LOG")"
		return 1
	fi
}

# dv_start NAME [PORT_IMAPS [PORT_IMAP]]
dv_start() {
	DV_OAUTH=${_dv_want_oauth:-}
	_dv_want_oauth=
	DV_PLAINTEXT=${_dv_want_plain:-}
	_dv_want_plain=
	DV_OAUTH_MECHS=${DV_WANT_OAUTH_MECHS:-oauthbearer xoauth2}
	DV_WANT_OAUTH_MECHS=
	DV_QUOTA=${DV_WANT_QUOTA:-}
	DV_WANT_QUOTA=
	DV_SEP=${DV_SEPARATOR:-/}
	_dv_name=$1
	_dv_ps=${2:-0}
	_dv_pp=${3:-0}
	command -v dovecot >/dev/null || { _dv_err "dovecot is not installed (dovecot-imapd)"; return 1; }
	command -v openssl >/dev/null || { _dv_err "openssl is not installed"; return 1; }
	DV_DIR=$(mktemp -d "${DV_TMP:-/tmp}/mv-dv-$_dv_name.XXXXXX") || return 1
	DV_ALL="$DV_ALL $DV_DIR"
	# Others may traverse (the unprivileged processes must reach their
	# files) but not list it.
	chmod 711 "$DV_DIR"
	DV_CONF=$DV_DIR/dovecot.conf
	DV_LOG=$DV_DIR/log/dovecot.log
	DV_INSTANCE=mvdv-$_dv_name-${DV_DIR##*.}
	DV_OAUTH_PORT=
	DV_OAUTH_PID=
	DV_PORT_IMAPS=
	DV_PORT_IMAP=
	DV_AUTO_PORTS=
	# Saved now so that dv_stop can clean up after a failed start.
	_dv_save_env
	mkdir -p "$DV_DIR/log" "$DV_DIR/mail" "$DV_DIR/home" "$DV_DIR/run" "$DV_DIR/state"
	_dv_run_user || return 1
	_dv_make_certs || { _dv_err "openssl failed: $(cat "$DV_DIR/openssl.err")"; return 1; }
	_dv_users || return 1
	if [ "$(id -u)" = 0 ]; then
		chown -R "$DV_RUN_USER:$DV_RUN_GROUP" "$DV_DIR/log" "$DV_DIR/mail" \
			"$DV_DIR/home" "$DV_DIR/users"
	fi
	chmod 700 "$DV_DIR/mail"
	_dv_start_oauth_server || { _dv_save_env; return 1; }
	[ "$_dv_ps" = 0 ] || [ "$_dv_pp" = 0 ] && DV_AUTO_PORTS=1
	_dv_try=0
	while :; do
		_dv_try=$((_dv_try + 1))
		if [ -n "$DV_AUTO_PORTS" ]; then
			_dv_pick_ports || return 1
		fi
		DV_PORT_IMAPS=$_dv_ps
		DV_PORT_IMAP=$_dv_pp
		_dv_write_conf
		_dv_save_env
		_dv_launch
		_dv_rc=$?
		[ "$_dv_rc" = 0 ] && break
		if [ "$_dv_rc" = 2 ] && [ -n "$DV_AUTO_PORTS" ] && [ "$_dv_try" -lt 8 ]; then
			continue
		fi
		[ "$_dv_rc" = 2 ] && _dv_err "port $DV_PORT_IMAPS or $DV_PORT_IMAP is taken"
		return 1
	done
	_dv_save_env
	dv_select "$DV_DIR"
}

# dv_start_oauth NAME [PORT_IMAPS [PORT_IMAP]]
dv_start_oauth() {
	_dv_want_oauth=1
	dv_start "$@"
}

# dv_start_plaintext NAME [PORT_IMAPS [PORT_IMAP]]
dv_start_plaintext() {
	_dv_want_plain=1
	dv_start "$@"
}

# dv_doveadm ARGS...: doveadm with the instance's configuration.
dv_doveadm() { doveadm -c "$DV_CONF" "$@"; }

# dv_load USER MAILDIR_SRC: copies a Maildir++ tree (cur/new/tmp, .Sub
# folders, dovecot-keywords, file times) into USER's mailbox, then makes
# Dovecot index it.  Existing files of the same name are replaced.
dv_load() {
	[ -d "$2" ] || { _dv_err "dv_load: no directory '$2'"; return 1; }
	_dv_m=$DV_DIR/mail/$1
	mkdir -p "$_dv_m" || return 1
	cp -Rp "$2/." "$_dv_m/" || return 1
	if [ "$(id -u)" = 0 ]; then
		chown -R "$DV_RUN_USER:$DV_RUN_GROUP" "$_dv_m" || return 1
	fi
	dv_doveadm force-resync -u "$1" '*' 2>>"$DV_DIR/log/doveadm.err" || {
		_dv_err "doveadm force-resync -u $1 failed: $(tail -3 "$DV_DIR/log/doveadm.err")"
		return 1
	}
}

# _dv_wait_gone SECONDS: waits until no process of the instance is left.
_dv_wait_gone() {
	_dv_i=0
	while [ -n "$(dv_pids)" ]; do
		_dv_i=$((_dv_i + 1))
		[ "$_dv_i" -gt $(($1 * 20)) ] && return 1
		sleep 0.05
	done
	return 0
}

# dv_kill: the server dies at once (SIGKILL to the master and every child),
# as in a crash; connections drop.  The token endpoint stays up.
dv_kill() {
	_dv_keep=$DV_OAUTH_PID
	DV_OAUTH_PID=
	for _dv_p in $(dv_pids); do kill -KILL "$_dv_p" 2>/dev/null; done
	_dv_wait_gone 5
	_dv_rc=$?
	DV_OAUTH_PID=$_dv_keep
	rm -f "$DV_DIR/run/master.pid"
	return $_dv_rc
}

# dv_imapsig SIG [MAILDIR]: sends SIG (STOP, CONT, ...) to the current
# instance's imap processes (not imap-login).  With MAILDIR, first waits
# (30 s at most; else returns 1) until that folder holds at least 20
# messages in cur/ and new/ and one in tmp/, i.e. until an APPEND is
# being received.  Tests freeze the server this way (SIGSTOP) before a
# kill or kick, so that it lands mid-transfer however fast the client is.
dv_imapsig() {
	"$DV_PYTHON" - "$1" "${2:-}" "$DV_INSTANCE" <<'EOF'
import os, signal, sys, time
sig, d, inst = sys.argv[1], sys.argv[2], sys.argv[3]
def n(sub):
    try:
        return len(os.listdir(os.path.join(d, sub)))
    except OSError:
        return 0
end = time.time() + 30
while d and not (n("cur") + n("new") >= 20 and n("tmp") > 0):
    if time.time() >= end:
        sys.exit(1)
    time.sleep(0.0005)
for p in os.listdir("/proc"):
    try:
        cmd = open("/proc/%s/cmdline" % p, "rb").read()
    except OSError:
        continue
    if cmd.startswith(("dovecot-%s/imap" % inst).encode()) and b"imap-login" not in cmd:
        os.kill(int(p), getattr(signal, "SIG" + sig))
EOF
}

# dv_restart: starts the current instance again, same ports and data.
dv_restart() {
	[ -n "$(_dv_master_pid)" ] && dv_kill
	_dv_launch
}

# dv_quota "WORDS": the current instance's quota becomes WORDS (as for
# DV_WANT_QUOTA; "" for none), then it restarts on the same ports and
# data.
dv_quota() {
	DV_QUOTA=$1
	_dv_run_user || return 1
	_dv_write_conf || return 1
	_dv_save_env
	dv_restart
}

# dv_stop [DIR]: stops the instance (SIGTERM to the master, which ends its
# children; SIGKILL to anything left after 10 s) and removes its directory.
dv_stop() {
	[ -n "${1:-}" ] && { dv_select "$1" || return 1; }
	[ -n "${DV_DIR:-}" ] && [ -f "$DV_DIR/env" ] || return 0
	_dv_mp=$(_dv_master_pid)
	[ -n "$_dv_mp" ] && kill -TERM "$_dv_mp" 2>/dev/null
	[ -n "${DV_OAUTH_PID:-}" ] && kill -TERM "$DV_OAUTH_PID" 2>/dev/null
	if ! _dv_wait_gone 10; then
		for _dv_p in $(dv_pids); do kill -KILL "$_dv_p" 2>/dev/null; done
		_dv_wait_gone 5
	fi
	case $DV_DIR in
	*/mv-dv-*) rm -rf "$DV_DIR" ;;
	esac
	_dv_rest=
	for _dv_d in $DV_ALL; do
		[ "$_dv_d" = "$DV_DIR" ] || _dv_rest="$_dv_rest $_dv_d"
	done
	DV_ALL=$_dv_rest
	DV_DIR=
}

dv_stop_all() {
	for _dv_d in $DV_ALL; do
		if [ -f "$_dv_d/env" ]; then
			dv_stop "$_dv_d"
		else
			# A start that failed before saving env: nothing runs.
			case $_dv_d in
			*/mv-dv-*) rm -rf "$_dv_d" ;;
			esac
		fi
	done
	DV_ALL=
	DV_DIR=
}
