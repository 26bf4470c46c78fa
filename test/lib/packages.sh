# shellcheck shell=bash
# Debian packages for the tests (sourced, not run).
#
# Other package managers may run at the same time (unattended-upgrades, an
# administrator): every apt call here waits for their locks, up to
# APT_LOCK_WAIT seconds (default 600), and says that it waits, instead of
# failing at once.

APT_LOCK_WAIT=${APT_LOCK_WAIT:-600}

# apt_get ARGS...: apt-get, quiet when it succeeds, waiting for the dpkg and
# apt locks; fails with apt's own output otherwise.
apt_get() {
	local deadline=$((SECONDS + APT_LOCK_WAIT)) out status
	while :; do
		out=$(DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=0 "$@" 2>&1) && return 0
		status=$?
		if grep -qE "Could not get lock|Unable to acquire the dpkg frontend lock|Unable to lock" <<<"$out" &&
			[ $SECONDS -lt $deadline ]; then
			echo "apt-get $1: another package manager holds the lock; waiting (at most $((deadline - SECONDS)) s more)" >&2
			sleep 5
			continue
		fi
		echo "$out" >&2
		return $status
	done
}

# ensure_packages PKG...: installs the Debian packages that are missing.
# Needs root when something is missing.
ensure_packages() {
	local missing="" pkg
	for pkg in "$@"; do
		dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" ||
			missing="$missing $pkg"
	done
	[ -z "$missing" ] && return 0
	if [ "$(id -u)" != 0 ]; then
		echo "missing Debian packages:$missing (run as root to install them)" >&2
		return 1
	fi
	echo "installing:$missing"
	if [ -z "${APT_UPDATED:-}" ]; then
		apt_get update
		export APT_UPDATED=1
	fi
	# shellcheck disable=SC2086 # one word per package
	apt_get install -y --no-install-recommends $missing
}

# ensure_host_postgres: the host's PostgreSQL 15 (Debian 12) with contrib,
# and PG_CONFIG pointing at it unless already set.
ensure_host_postgres() {
	ensure_packages postgresql-15 postgresql-contrib
	export PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
}
