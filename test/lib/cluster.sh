# shellcheck shell=bash
# Throwaway PostgreSQL clusters for the test scripts (sourced, not run).
#
# Every cluster lives under one temporary directory, listens only on a Unix
# socket inside it, and is stopped and removed when the calling script exits.
# No system cluster is ever touched.  As root, the servers run as the
# "postgres" operating-system user (initdb refuses to run as root).

PG_CONFIG=${PG_CONFIG:-pg_config}
PGBIN=$("$PG_CONFIG" --bindir)
CLUSTER_ROOT=$(mktemp -d "${TMPDIR:-/tmp}/api_tokens.XXXXXX")
CLUSTER_NAMES=""

if [ "$(id -u)" = 0 ]; then
	chown postgres: "$CLUSTER_ROOT"
	chmod 755 "$CLUSTER_ROOT"
fi

# Runs a command as the owner of the clusters.
as_cluster_owner() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

cluster_dir() { echo "$CLUSTER_ROOT/$1"; }

# A port nobody listens on: sockets are per cluster, so only the number matters.
cluster_port() { cat "$CLUSTER_ROOT/$1/port"; }

# cluster_init NAME: initdb with trust auth for the local socket only.
cluster_init() {
	local dir port
	dir=$(cluster_dir "$1")
	port=$((50000 + RANDOM % 10000))
	as_cluster_owner mkdir -p "$dir/socket"
	echo "$port" | as_cluster_owner tee "$dir/port" >/dev/null
	as_cluster_owner "$PGBIN/initdb" -D "$dir/data" -U postgres --auth=trust \
		--no-sync -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
		{ cat "$dir/initdb.log"; return 1; }
	cluster_configure "$1" "
listen_addresses = ''
port = $port
unix_socket_directories = '$dir/socket'
fsync = off
max_prepared_transactions = 10
log_min_messages = notice
"
}

# cluster_configure NAME TEXT: appends settings to postgresql.conf.
cluster_configure() {
	echo "$2" | as_cluster_owner tee -a "$(cluster_dir "$1")/data/postgresql.conf" >/dev/null
}

cluster_start() {
	local dir
	dir=$(cluster_dir "$1")
	as_cluster_owner "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null ||
		{ cat "$dir/server.log"; return 1; }
	case " $CLUSTER_NAMES " in *" $1 "*) ;; *) CLUSTER_NAMES="$CLUSTER_NAMES $1" ;; esac
}

cluster_stop() {
	as_cluster_owner "$PGBIN/pg_ctl" -D "$(cluster_dir "$1")/data" -m fast -w stop >/dev/null 2>&1 || true
}

# cluster_env NAME: points libpq (psql, pg_regress, drivers) at the cluster.
cluster_env() {
	PGHOST="$(cluster_dir "$1")/socket"
	PGPORT=$(cluster_port "$1")
	export PGHOST PGPORT
	export PGUSER=postgres
	export PGDATABASE=postgres
}

# cluster_log NAME: the server log.
cluster_log() { echo "$(cluster_dir "$1")/server.log"; }

# Fails if a server crashed: a backend killed by a signal leaves this line.
cluster_assert_no_crash() {
	if grep -q "terminated by signal" "$(cluster_log "$1")"; then
		echo "server $1 crashed:" >&2
		grep -B2 -A5 "terminated by signal" "$(cluster_log "$1")" >&2
		return 1
	fi
}

cluster_cleanup() {
	local name
	for name in $CLUSTER_NAMES; do cluster_stop "$name"; done
	rm -rf "$CLUSTER_ROOT"
}
trap cluster_cleanup EXIT
