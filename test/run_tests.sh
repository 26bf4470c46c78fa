#!/usr/bin/env bash
# The whole test suite, on a throwaway cluster.  Run as root on Debian 12:
# it installs the packages it needs and never touches a system cluster.
#
#   test/run_tests.sh                 everything
#   test/run_tests.sh regress         only the regression and isolation tests
#   test/run_tests.sh SCRIPT...       regression tests, then the named scripts
#                                     (names of test/scripts/*.sh, without .sh)
set -euo pipefail
cd "$(dirname "$0")/.."
. test/lib/packages.sh
. test/lib/build.sh

echo "== build (warnings are errors) and install"
build_and_install

echo "== regression and isolation tests (make installcheck)"
(
	. test/lib/cluster.sh
	cluster_init regress
	cluster_start regress
	cluster_env regress
	if ! make -s installcheck; then
		cat regression.diffs 2>/dev/null || true
		exit 1
	fi
	cluster_assert_no_crash regress
)

scripts=()
if [ $# -eq 0 ]; then
	for f in test/scripts/*.sh; do scripts+=("$(basename "$f" .sh)"); done
elif [ "$1" != regress ]; then
	scripts=("$@")
fi

failed=()
for name in "${scripts[@]}"; do
	echo "== $name"
	if ! "test/scripts/$name.sh"; then
		failed+=("$name")
		echo "!! $name FAILED"
	fi
done

if [ ${#failed[@]} -gt 0 ]; then
	echo "FAILED: ${failed[*]}"
	exit 1
fi
echo "== all tests passed"
