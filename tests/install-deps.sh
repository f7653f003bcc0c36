#!/bin/sh
# Installs the Debian packages the build and the tests need, if missing.
# Runs as root on a fresh Debian 12; touches nothing but the package set.
set -e
need=""
for p in build-essential pkg-config libsodium-dev libzstd-dev \
	 libcurl4-openssl-dev libssl-dev libarchive-dev python3 clang \
	 valgrind zstd dovecot-imapd openssl procps; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		need="$need $p"
done
[ -z "$need" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "missing packages:$need (run as root, or install them)" >&2
	exit 1
fi
echo "installing:$need"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# policy-rc.d keeps Debian from starting the system-wide Dovecot service:
# the tests run their own instances and never touch system config.
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
	chmod 755 /usr/sbin/policy-rc.d
	trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get install -y -qq --no-install-recommends $need >/dev/null
