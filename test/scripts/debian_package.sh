#!/usr/bin/env bash
# versions: 15 17
# Packaging as PostgreSQL users install extensions: META.json is a valid PGXN
# meta file for this version; the Debian package for the server of
# $PG_CONFIG (postgresql-NN-api-tokens) builds with pg_buildext, installs
# with apt, and CREATE EXTENSION works from the installed files.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib/packages.sh
. test/lib/cluster.sh
major=$("$PG_CONFIG" --version | sed -n 's/^PostgreSQL \([0-9]*\).*/\1/p')
ensure_packages debhelper dpkg-dev build-essential postgresql-server-dev-all "postgresql-server-dev-$major" \
	libssl-dev zlib1g-dev gcc make

fail() { echo "FAIL: $*" >&2; exit 1; }

echo "== META.json"
python3 - <<'PY' || fail "META.json"
import json, re
meta = json.load(open("META.json"))
for key in ("name", "abstract", "version", "maintainer", "license", "provides", "meta-spec"):
    assert key in meta, f"missing required key {key}"
assert meta["meta-spec"]["version"] == "1.0.0"
semver = re.compile(r"^\d+\.\d+\.\d+$")
assert semver.match(meta["version"]), "version is not semantic"
control = open("api_tokens.control").read()
default = re.search(r"default_version = '([^']+)'", control).group(1)
assert meta["version"].startswith(default + "."), f"{meta['version']} is not version {default}"
for name, ext in meta["provides"].items():
    assert {"file", "version"} <= set(ext), f"provides.{name} lacks file or version"
    assert semver.match(ext["version"])
    open(ext["file"]).close()
assert meta["license"] in ("postgresql", "bsd", "mit", "gpl_3", "apache_2_0")
print(f"ok: META.json {meta['version']} matches default_version {default}")
PY

echo "== building postgresql-$major-api-tokens"
work=$(mktemp -d "${TMPDIR:-/tmp}/api_tokens_deb.XXXXXX")
trap 'rm -rf "$work"; cluster_cleanup' EXIT
mkdir "$work/api-tokens"
# The sources: what git tracks (and untracked files it does not ignore), or,
# in a copy that is not a git checkout (the chroots), every file.
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	git ls-files -co --exclude-standard -z
else
	find . -path ./.git -prune -o -type f -print0
fi | xargs -0 cp --parents -t "$work/api-tokens"
# debian/control lists a package per server version installed here.
(cd "$work/api-tokens" && pg_buildext updatecontrol && dpkg-buildpackage -us -uc -b >"$work/build.log" 2>&1) ||
	{ tail -40 "$work/build.log"; fail "package build"; }
deb=$(ls "$work"/postgresql-"$major"-api-tokens_*.deb)
echo "built $(basename "$deb")"
contents=$(dpkg-deb -c "$deb")
scripts=()
for s in sql/api_tokens--*.sql; do scripts+=("/usr/share/postgresql/$major/extension/$(basename "$s")"); done
for f in "/usr/lib/postgresql/$major/lib/api_tokens.so" \
	"/usr/share/postgresql/$major/extension/api_tokens.control" "${scripts[@]}"; do
	echo "$contents" | grep -q " \.$f$" || fail "$f missing from the package"
done
echo "ok: the package holds the library, control file, install and upgrade scripts"

echo "== installing the package (apt, waiting for the dpkg lock)"
apt_get install -y --no-install-recommends "$deb" || fail "installing $deb"
owner=$(dpkg -S "/usr/share/postgresql/$major/extension/api_tokens.control" | cut -d: -f1)
[ "$owner" = "postgresql-$major-api-tokens" ] || fail "control file owned by '$owner'"
echo "ok: installed files belong to $owner"

cluster_init package
cluster_start package
cluster_env package
result=$(psql -X -q -v ON_ERROR_STOP=1 -At <<'SQL'
CREATE TABLE users (id uuid PRIMARY KEY);
CREATE EXTENSION api_tokens;
INSERT INTO users VALUES ('00000000-0000-0000-0000-000000000001');
SELECT extversion FROM pg_extension WHERE extname = 'api_tokens';
SELECT token FROM api_token_create('00000000-0000-0000-0000-000000000001', 'from the package') \gset
SELECT status FROM api_token_validate(:'token');
SQL
)
version=$(sed -n "s/^default_version = '\(.*\)'/\1/p" api_tokens.control)
[ "$result" = "$(printf '%s\nvalid' "$version")" ] || fail "CREATE EXTENSION from the package: $result"
echo "ok: CREATE EXTENSION from the installed package, a token created and validated"
cluster_assert_no_crash package
echo "debian_package: all checks passed"
