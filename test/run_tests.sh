#!/usr/bin/env bash
# The whole test suite, on every supported PostgreSQL, on throwaway
# clusters.  Run as root on Debian 12: it installs what it needs (Debian 12's
# PostgreSQL 15 on the host; 17 and 18 in Debian chroots it builds and keeps
# under /var/cache/api_tokens, see test/lib/chroot.sh) and never touches a
# system cluster.
#
#   test/run_tests.sh                 everything, on PostgreSQL 15, 17 and 18
#   test/run_tests.sh regress         only the regression and isolation tests
#                                     (make installcheck, then make
#                                     installcheck-preloaded)
#   test/run_tests.sh SCRIPT...       regression tests, then the named scripts
#                                     (names of test/scripts/*.sh, without .sh)
#   PG_VERSIONS="15 18" test/run_tests.sh ...   only these versions
#
# A failure on any version fails the run; the summary says which version.
set -euo pipefail
cd "$(dirname "$0")/.."
. test/lib/packages.sh
. test/lib/build.sh

# The scripts each version runs: every test/scripts/*.sh names its versions
# on its second line, "# versions: 15 17 18".  The examples, the fuzzer and
# the Debian package for 15 stay on the host's 15; PgBouncer 1.24 (named
# prepared statements in transaction pooling) and packaging run in the 17
# chroot too.
script_versions() { sed -n '2s/^# versions: //p' "$1"; }
scripts_on() {
	local f
	for f in test/scripts/*.sh; do
		case " $(script_versions "$f") " in
			*" $1 "*) basename "$f" .sh ;;
		esac
	done
}

# Debian packages a chroot needs for its scripts (the server and build
# tools are always installed, see chroot_ensure).
# shellcheck disable=SC2317 # called from run_in_chroot
chroot_packages() {
	case $1 in
		17) echo pgbouncer python3-psycopg debhelper dpkg-dev build-essential postgresql-server-dev-all ;;
		18) echo python3-psycopg ;;
	esac
}

# run_here MAJOR SCRIPT...: the suite on this machine's PostgreSQL MAJOR;
# prints the names of what failed on its last line of output ("failed: ...").
run_here() {
	local major=$1 name failed=()
	shift
	echo "== PostgreSQL $major: build (warnings are errors) and install"
	build_and_install "$major"
	echo "== PostgreSQL $major: regression and isolation tests (make installcheck)"
	if ! (
		. test/lib/cluster.sh
		cluster_init regress
		cluster_start regress
		cluster_env regress
		if ! make -s installcheck; then
			cat regression.diffs output_iso/regression.diffs 2>/dev/null || true
			exit 1
		fi
		cluster_assert_no_crash regress
	); then
		failed+=(regress)
	fi
	echo "== PostgreSQL $major: isolation tests with the library preloaded (make installcheck-preloaded)"
	if ! make -s installcheck-preloaded; then
		cat output_iso/preloaded/regression.diffs 2>/dev/null || true
		failed+=(preloaded)
	fi
	for name in "$@"; do
		[ "$name" = regress ] && continue
		echo "== PostgreSQL $major: $name"
		"test/scripts/$name.sh" || { failed+=("$name"); echo "!! PostgreSQL $major: $name FAILED"; }
	done
	[ ${#failed[@]} -eq 0 ] && return 0
	echo "failed: ${failed[*]}"
	return 1
}

# Inside a chroot this script only runs the suite (see run_in_chroot).
if [ -n "${API_TOKENS_INSIDE_CHROOT:-}" ]; then
	run_here "$@"
	exit
fi

# run_in_chroot MAJOR SCRIPT...: the suite in the chroot of PostgreSQL MAJOR,
# on a copy of the working tree (so that its build leaves this one alone).
# shellcheck disable=SC2317 # called through "${run[@]}"
run_in_chroot() {
	local major=$1 dir
	shift
	. test/lib/chroot.sh
	# shellcheck disable=SC2046
	chroot_ensure "$major" $(chroot_packages "$major")
	dir=$(chroot_dir "$major")
	rm -rf "$dir/build"
	mkdir -p "$dir/build/api_tokens"
	git ls-files -co --exclude-standard -z | grep -zv '^examples/' |
		tar --null -cf - -T - | tar -xf - -C "$dir/build/api_tokens"
	API_TOKENS_INSIDE_CHROOT=1 UNIT_ONLY=1 CHROOT_PASSTHROUGH_VARS="API_TOKENS_INSIDE_CHROOT UNIT_ONLY" \
		chroot_run "$major" bash -c 'cd /build/api_tokens && exec test/run_tests.sh "$@"' run_tests "$major" "$@"
}

for f in test/scripts/*.sh; do
	if [ -z "$(script_versions "$f")" ]; then
		echo "$f: no \"# versions: ...\" on its second line" >&2
		exit 2
	fi
done

requested=("$@")

# run_version MAJOR: the suite of one version; its output ends with a line
# "summary: PostgreSQL MAJOR: passed" (or FAILED, with what failed).
run_version() {
	local major=$1 scripts=() name r run out what
	for name in $(scripts_on "$major"); do
		if [ ${#requested[@]} -eq 0 ]; then
			scripts+=("$name")
		else
			for r in "${requested[@]}"; do [ "$r" = "$name" ] && scripts+=("$name"); done
		fi
	done
	echo "=== PostgreSQL $major: regress ${scripts[*]}"
	case $major in
		15) run=(run_here 15) ;;
		*) run=(run_in_chroot "$major") ;;
	esac
	out=$(mktemp)
	if "${run[@]}" "${scripts[@]}" 2>&1 | tee "$out"; then
		echo "summary: PostgreSQL $major: passed"
	else
		what=$(sed -n 's/^failed: //p' "$out" | tail -1)
		echo "summary: PostgreSQL $major: FAILED (${what:-before the tests: see above})"
	fi
	rm -f "$out"
}

read -r -a versions <<<"${PG_VERSIONS:-15 17 18}"
here=()
away=()
for major in "${versions[@]}"; do
	case $major in
		15) here+=("$major") ;;
		17 | 18) away+=("$major") ;;
		*)
			echo "PostgreSQL $major is not supported here (15, 17, 18)" >&2
			exit 2
			;;
	esac
done
started=$SECONDS
logs=$(mktemp -d)
# The chroots' versions run one after the other in the background (their
# output is printed once they are done) while the host's 15 runs here: the
# whole suite takes about as long as its longest half.
if [ ${#away[@]} -gt 0 ]; then
	(
		for major in "${away[@]}"; do
			begin=$SECONDS
			run_version "$major" >"$logs/$major.log" 2>&1
			echo "(PostgreSQL $major took $((SECONDS - begin)) s)" >>"$logs/$major.log"
		done
	) &
	away_pid=$!
	echo "=== PostgreSQL ${away[*]}: started in the background"
fi
for major in "${here[@]}"; do
	run_version "$major" | tee "$logs/$major.log"
	echo "(PostgreSQL $major took $((SECONDS - started)) s)"
done
if [ -n "${away_pid:-}" ]; then
	echo "=== waiting for PostgreSQL ${away[*]}"
	wait "$away_pid" || true
	for major in "${away[@]}"; do cat "$logs/$major.log"; done
fi

echo "=== summary ($((SECONDS - started)) s)"
status=0
for major in "${versions[@]}"; do
	line=$(sed -n 's/^summary: //p' "$logs/$major.log" | tail -1)
	echo "${line:-PostgreSQL $major: FAILED (no result: see above)}"
	case $line in *": passed") ;; *) status=1 ;; esac
done
rm -rf "$logs"
[ $status -eq 0 ] && echo "== all tests passed"
exit $status
