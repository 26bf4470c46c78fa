#!/usr/bin/env bash
# Static checks of the sources; any finding fails (the tools that found
# something are named on the last line):
#
# - clang-format: the repo's .clang-format, every *.c and *.h under src/,
#   test/unit/ and test/fuzz/ (subfolders included);
# - cppcheck: the same C files, against PostgreSQL 15's headers;
# - shellcheck: every shell script in git (*.sh and any file whose shebang
#   is sh or bash), following the files they source (-x);
# - flake8: every Python file in git, configured by .flake8.
#
# Files in git means tracked, or new and not ignored (git ls-files -co
# --exclude-standard), so a script is checked before it is committed.
# Runs from the repository root whatever the current directory.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib/packages.sh
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
ensure_packages shellcheck python3-flake8 cppcheck clang-format postgresql-server-dev-15

if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	echo "lint: not in a git work tree (the scripts and Python files are those of git ls-files)" >&2
	exit 1
fi

failed=()

# check TOOL WHAT NFILES COMMAND...: runs COMMAND (the tool over NFILES
# files of WHAT); its exit status says whether it found something, and
# its output lines that begin with a path and a line number are counted as
# the findings.
check() {
	local tool=$1 what=$2 nfiles=$3 out status=0 findings
	shift 3
	if [ "$nfiles" -eq 0 ]; then
		echo "$tool: no $what to check"
		return
	fi
	out=$("$@" 2>&1) || status=$?
	findings=$(grep -cE '^[^ :]+:[0-9]+:' <<<"$out" || true)
	if [ "$status" -eq 0 ]; then
		echo "$tool: $nfiles $what checked, no finding"
		return
	fi
	printf '%s\n' "$out"
	echo "$tool: $nfiles $what checked, $findings finding(s) (exit status $status)"
	failed+=("$tool")
}

# Files in git (see above) that still exist, NUL-separated.
git_files() {
	git ls-files -co --exclude-standard -z "$@" |
		while IFS= read -r -d '' f; do [ -f "$f" ] && printf '%s\0' "$f"; done
}

# The C code: src/ has subfolders, so find (not a glob).
mapfile -d '' c_files < <(find src test/unit test/fuzz -type f -name '*.[ch]' -print0 | sort -z)
mapfile -d '' c_sources < <(find src test/unit test/fuzz -type f -name '*.c' -print0 | sort -z)
# Every folder of src/ is an include path, as for the build.
src_includes=()
while IFS= read -r -d '' d; do src_includes+=(-I "$d"); done < <(find src -type d -print0 | sort -z)

# Shell scripts: *.sh, and any other file whose first line is a sh or bash
# shebang (.ci/run, debian/tests/installcheck).
shell_files=()
while IFS= read -r -d '' f; do
	case $f in
		*.sh) shell_files+=("$f") ;;
		*) head -n1 -- "$f" | grep -qE '^#!\s*(/usr)?/bin/(env\s+)?(ba)?sh(\s|$)' && shell_files+=("$f") ;;
	esac
done < <(git_files)

mapfile -d '' py_files < <(git_files '*.py')

check clang-format "C files" ${#c_files[@]} \
	clang-format --style=file --dry-run --Werror "${c_files[@]}"

# One configuration of the preprocessor, gcc's (-D__GNUC__): the PostgreSQL
# headers have too many #ifdef combinations to check them all.  System
# headers are not needed (missingIncludeSystem).
check cppcheck "C sources" ${#c_sources[@]} \
	cppcheck --enable=warning,portability,performance --error-exitcode=1 --inline-suppr --quiet \
	--suppress=missingIncludeSystem -D__GNUC__=12 -j "$(nproc)" \
	--template='{file}:{line}:{column}: {severity}: {message} [{id}]' \
	"${src_includes[@]}" -I "$("$PG_CONFIG" --includedir-server)" -I "$("$PG_CONFIG" --includedir)" \
	"${c_sources[@]}"

check shellcheck "shell scripts" ${#shell_files[@]} \
	shellcheck -x -f gcc "${shell_files[@]}"

# Debian's flake8 is a module of Debian's Python, which need not be the
# python3 first on PATH.
check flake8 "Python files" ${#py_files[@]} \
	/usr/bin/python3 -m flake8 "${py_files[@]}"

if [ ${#failed[@]} -ne 0 ]; then
	echo "lint: FAILED (${failed[*]})" >&2
	exit 1
fi
echo "lint: passed"
