# shellcheck shell=bash
# Checks shared by the test scripts (sourced, not run; after cluster.sh).
#
# A script may define on_failure, run (with its output to stderr) before a
# failing check exits, for example to show the end of a server log.

fail() {
	echo "FAIL: $*" >&2
	if declare -F on_failure >/dev/null; then on_failure >&2 || true; fi
	exit 1
}

# expect DESCRIPTION EXPECTED ACTUAL
expect() {
	[ "$2" = "$3" ] || fail "$1: expected '$2', got '$3'"
	echo "ok: $1"
}

# psql_on CLUSTER ARGS...: psql on a cluster, unaligned, stopping at the first error.
psql_on() {
	local node=$1
	shift
	(cluster_env "$node" && psql -X -q -v ON_ERROR_STOP=1 -At "$@")
}

# wait_for DESCRIPTION SECONDS CLUSTER SQL: until SQL prints t on the
# cluster's database postgres (or PGDATABASE), or fail.
wait_for() {
	local deadline=$((SECONDS + $2))
	until [ "$(psql_on "$3" -c "$4" 2>/dev/null || true)" = t ]; do
		[ $SECONDS -lt $deadline ] || fail "$1: not within $2 s"
		sleep 0.1
	done
	echo "ok: $1"
}
