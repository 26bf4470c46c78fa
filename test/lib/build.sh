# build_and_install: installs the build dependencies, then builds the
# extension with warnings as errors and installs it into PostgreSQL 15
# (sourced, not run; needs test/lib/packages.sh).
build_and_install() {
	ensure_packages make gcc libc6-dev postgresql-15 postgresql-server-dev-15 zlib1g-dev libssl-dev
	export PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
	make -s clean
	make -s COPT="-Werror"
	make -s install
}
