#!/usr/bin/env bash
# versions: 15
# The test scripts' apt calls wait for a package manager that holds the
# dpkg lock (as unattended-upgrades does), say so, and give up only after
# APT_LOCK_WAIT seconds.  The lock is taken here as dpkg takes it (an fcntl
# lock on /var/lib/dpkg/lock-frontend), for a few seconds; apt is asked to
# install a package that is already installed, so that nothing changes.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib/packages.sh
. test/lib/checks.sh
ensure_packages python3-minimal make

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
hold_lock() { # hold_lock SECONDS: in the background, once taken
	/usr/bin/python3 -c "
import fcntl, sys, time
lock = open('/var/lib/dpkg/lock-frontend', 'w')
fcntl.lockf(lock, fcntl.LOCK_EX)
open(sys.argv[2], 'w').close()
time.sleep(float(sys.argv[1]))" "$1" "$work/taken" &
	until [ -e "$work/taken" ]; do sleep 0.1; done
	rm -f "$work/taken"
}

hold_lock 8
start=$SECONDS
apt_get install -y --no-install-recommends make 2>"$work/said"
expect "apt waited for the lock to be released" t "$([ $((SECONDS - start)) -ge 7 ] && echo t || echo f)"
expect "and said that it waits" t "$(grep -q 'holds the lock; waiting' "$work/said" && echo t || echo f)"
wait

hold_lock 20
start=$SECONDS
if APT_LOCK_WAIT=4 apt_get install -y --no-install-recommends make 2>"$work/said"; then
	fail "apt succeeded while the lock was held"
fi
expect "it gave up after APT_LOCK_WAIT" t "$([ $((SECONDS - start)) -lt 15 ] && echo t || echo f)"
expect "with apt's own message" t "$(grep -q 'lock' "$work/said" && echo t || echo f)"
kill %1 2>/dev/null || true
wait || true
echo "apt_lock: all checks passed"
