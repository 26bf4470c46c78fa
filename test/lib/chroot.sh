# shellcheck shell=bash
# Debian chroots with newer PostgreSQL majors (sourced, not run; needs
# test/lib/packages.sh, and root).
#
# Debian 12 ships only PostgreSQL 15, and the newer servers need a newer libc,
# so PostgreSQL 17 (trixie) and 18 (sid) run in a minbase chroot, bootstrapped
# from the host's own Debian mirror and kept in
# ${API_TOKENS_CHROOT_CACHE:-/var/cache/api_tokens}/pg-NN between runs:
#
#   chroot_ensure 17 pgbouncer      create the chroot, install what is missing
#   chroot_run 17 make installcheck run a command in it, as root
#   chroot_unmount_all 17           unmount whatever is left under it
#   chroot_suite 17, chroot_dir 17  print trixie, .../pg-17
#
# chroot_run mounts /proc, /sys, /dev, a fresh /dev/shm and the repository
# (at the same absolute path) in a private mount namespace: the mounts are
# never seen on the host and vanish with the command, even when it is killed.
# The command starts in the caller's directory when that lies in the
# repository, with only PATH, LANG, HOME and the variables named in
# CHROOT_PASSTHROUGH_VARS (space-separated) in its environment.

chroot_suite() {
	case "$1" in
	17) echo trixie ;;
	18) echo sid ;;
	*)
		echo "no chroot for PostgreSQL '$1' (17 or 18)" >&2
		return 1
		;;
	esac
}

chroot_dir() { echo "${API_TOKENS_CHROOT_CACHE:-/var/cache/api_tokens}/pg-$1"; }

# The mirror the host's apt uses for its own release (deb822 or one-line format).
chroot_mirror() {
	local codename uri
	codename=$(sed -n 's/^VERSION_CODENAME=//p' /etc/os-release)
	uri=$(awk -v s="$codename" 'BEGIN { RS = ""; FS = "\n" }
		{	u = ""; ok = 0; deb = 0
			for (i = 1; i <= NF; i++) {
				if ($i ~ /^Types:(.*[ \t])?deb([ \t]|$)/) deb = 1
				if ($i ~ /^URIs:/) { split($i, a, " "); u = a[2] }
				if ($i ~ /^Suites:/) { n = split($i, a, " "); for (j = 2; j <= n; j++) if (a[j] == s) ok = 1 }
			}
			if (deb && ok && u != "") { print u; exit }
		}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
	[ -n "$uri" ] || uri=$(sed 's/\[[^]]*\]//' /etc/apt/sources.list 2>/dev/null |
		awk -v s="$codename" '$1 == "deb" && $3 == s { print $2; exit }' || true)
	if [ -z "$uri" ]; then
		echo "no Debian mirror for $codename in the host's apt sources" >&2
		return 1
	fi
	echo "$uri"
}

# chroot_unmount_all NN: unmounts whatever is mounted under the chroot, deepest first.
chroot_unmount_all() {
	local dir target left
	dir=$(chroot_dir "$1")
	findmnt -rn -o TARGET | awk -v d="$dir/" 'index($0, d) == 1' | sort -r |
		while read -r target; do
			umount "$target" 2>/dev/null || umount -l "$target" 2>/dev/null || true
		done
	left=$(findmnt -rn -o TARGET | awk -v d="$dir/" 'index($0, d) == 1')
	if [ -n "$left" ]; then
		echo "chroot $1: cannot unmount $left" >&2
		return 1
	fi
}

# chroot_run NN CMD [ARG...]: runs CMD in the chroot; returns its status.
chroot_run() {
	local v=$1 dir repo cwd=/ name vars
	shift
	dir=$(chroot_dir "$v")
	if [ ! -e "$dir/.bootstrapped" ]; then
		echo "chroot $v: $dir is not set up (call chroot_ensure $v)" >&2
		return 1
	fi
	chroot_unmount_all "$v" || return 1
	# safe.directory: the checkout may belong to another user than root.
	repo=$(git -c safe.directory='*' rev-parse --show-toplevel 2>/dev/null || true)
	if [ -n "$repo" ]; then
		case "$(pwd -P)" in "$repo" | "$repo"/*) cwd=$(pwd -P) ;; esac
	fi
	vars=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 HOME=/root)
	for name in ${CHROOT_PASSTHROUGH_VARS:-}; do
		if [ -n "${!name+set}" ]; then vars+=("$name=${!name}"); fi
	done
	# shellcheck disable=SC2016 # expanded by the inner sh
	unshare --mount --propagation private sh -euc '
		dir=$1 repo=$2
		shift 2
		mount --bind /proc "$dir/proc"
		mount --rbind /sys "$dir/sys"
		mount --rbind /dev "$dir/dev"
		mount -t tmpfs -o nosuid,nodev,mode=1777 shm "$dir/dev/shm"
		if [ -n "$repo" ]; then
			mkdir -p "$dir$repo"
			mount --bind "$repo" "$dir$repo"
		fi
		exec chroot "$dir" "$@"' chroot_run "$dir" "$repo" env -i -C "$cwd" "${vars[@]}" "$@"
}

# chroot_ensure NN [PKG...]: creates the chroot if needed, then installs
# PostgreSQL NN, its headers, a C toolchain and PKG... where missing.
chroot_ensure() {
	local v=$1 suite dir mirror start=$SECONDS pkg installed missing=() log
	shift
	suite=$(chroot_suite "$v") || return 1
	dir=$(chroot_dir "$v")
	local want=("postgresql-$v" "postgresql-server-dev-$v" make gcc libc6-dev libssl-dev zlib1g-dev util-linux "$@")
	if [ "$(id -u)" != 0 ]; then
		echo "chroot $v: must run as root" >&2
		return 1
	fi
	# The stamp is written last: a missing stamp means an interrupted bootstrap.
	if [ ! -e "$dir/.bootstrapped" ]; then
		echo "== chroot $v ($suite): creating $dir" >&2
		ensure_packages debootstrap >&2 || return 1
		mirror=$(chroot_mirror) || return 1
		chroot_unmount_all "$v" || return 1
		rm -rf --one-file-system "$dir" || return 1
		mkdir -p "$dir" || return 1
		if ! debootstrap --variant=minbase "$suite" "$dir" "$mirror" >"$dir.debootstrap.log" 2>&1; then
			tail -n 20 "$dir.debootstrap.log" >&2
			echo "chroot $v: debootstrap $suite from $mirror failed (log: $dir.debootstrap.log)" >&2
			return 1
		fi
		echo "deb $mirror $suite main" >"$dir/etc/apt/sources.list"
		# sid's Release file on the mirror is past its Valid-Until date.
		echo 'Acquire::Check-Valid-Until "false";' >"$dir/etc/apt/apt.conf.d/99api-tokens"
		# Package scripts must not start servers, nor create a "main" cluster.
		printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d"
		chmod 755 "$dir/usr/sbin/policy-rc.d"
		mkdir -p "$dir/etc/postgresql-common/createcluster.d"
		echo "create_main_cluster = false" >"$dir/etc/postgresql-common/createcluster.d/api-tokens.conf"
		touch "$dir/.bootstrapped"
		echo "== chroot $v ($suite): bootstrapped in $((SECONDS - start))s" >&2
	fi
	# shellcheck disable=SC2016 # a dpkg-query format, not a shell expansion
	installed=$(chroot "$dir" dpkg-query -W -f='${Package} ${Status}\n' 2>/dev/null |
		awk '$NF == "installed" && $(NF-1) == "ok" { print $1 }') || true
	for pkg in "${want[@]}"; do
		grep -qxF "$pkg" <<<"$installed" || missing+=("$pkg")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		echo "== chroot $v ($suite): installing ${missing[*]}" >&2
		# apt in the chroot resolves the mirror's name like the host does.
		cp -L /etc/resolv.conf /etc/hosts "$dir/etc/" || return 1
		log=$(mktemp "${TMPDIR:-/tmp}/chroot-$v.XXXXXX")
		# shellcheck disable=SC2016 # expanded by the inner sh
		if ! chroot_run "$v" env DEBIAN_FRONTEND=noninteractive sh -ec '
			dpkg --configure -a
			apt-get -o DPkg::Lock::Timeout=600 update -q
			apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "$@"
			apt-get clean' sh "${missing[@]}" >"$log" 2>&1; then
			tail -n 30 "$log" >&2
			echo "chroot $v: installing ${missing[*]} failed (log: $log)" >&2
			return 1
		fi
		rm -f "$log"
	fi
	echo "== chroot $v ($suite): ready in $((SECONDS - start))s" >&2
}
