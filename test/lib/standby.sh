# shellcheck shell=bash
# Streaming hot standbys for the test scripts (sourced, not run; after
# cluster.sh and checks.sh).  The primary needs wal_level = replica and
# max_wal_senders, as primary_settings gives them.

# shellcheck disable=SC2034 # used by the scripts that source this file
primary_settings="
wal_level = replica
max_wal_senders = 4
hot_standby = on
"

# standby_create PRIMARY STANDBY [SETTINGS]: a base backup of PRIMARY,
# streaming from its socket, with SETTINGS appended, started.  The backup
# asks for a fast checkpoint: a spread one can take minutes for nothing.
standby_create() {
	local primary=$1 standby=$2 dir
	dir=$(cluster_dir "$standby")
	as_cluster_owner mkdir -p "$dir/socket"
	echo $(($(cluster_port "$primary") + 1)) | as_cluster_owner tee "$dir/port" >/dev/null
	as_cluster_owner "$PGBIN/pg_basebackup" -h "$(cluster_dir "$primary")/socket" \
		-p "$(cluster_port "$primary")" -U postgres -D "$dir/data" -R -X stream --no-sync \
		--checkpoint=fast
	cluster_configure "$standby" "
port = $(cluster_port "$standby")
unix_socket_directories = '$dir/socket'
${3:-}"
	cluster_start "$standby"
}

# wait_for_replay PRIMARY STANDBY: until STANDBY has replayed all that
# PRIMARY has written so far.
wait_for_replay() {
	local lsn
	lsn=$(psql_on "$1" -c "SELECT pg_current_wal_lsn()")
	for _ in $(seq 1 500); do
		[ "$(psql_on "$2" -c "SELECT pg_last_wal_replay_lsn() >= '$lsn'::pg_lsn")" = t ] && return 0
		sleep 0.02
	done
	fail "$2 did not replay $lsn"
}
