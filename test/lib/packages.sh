# ensure_packages PKG...: installs the Debian packages that are missing
# (sourced, not run).  Needs root when something is missing.
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
		apt-get update -qq >/dev/null
		export APT_UPDATED=1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
}
