# shellcheck shell=bash
# build_and_install [MAJOR]: installs the build dependencies, then builds
# the extension with warnings as errors and installs it into PostgreSQL
# MAJOR (default 15, the host's own server), whose pg_config becomes
# $PG_CONFIG (sourced, not run; needs test/lib/packages.sh).
build_and_install() {
	local major=${1:-15}
	ensure_packages make gcc libc6-dev "postgresql-$major" "postgresql-server-dev-$major" \
		zlib1g-dev libssl-dev
	export PG_CONFIG=/usr/lib/postgresql/$major/bin/pg_config
	make -s clean
	make -s COPT="-Werror"
	make -s install
}
