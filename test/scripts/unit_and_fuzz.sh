#!/usr/bin/env bash
# versions: 15 17 18
# The pure code on its own (token format, base62, checksum, hex, and the
# JSON member scanner of the pre-request): unit tests with gcc (-Werror) and
# with clang under AddressSanitizer and UndefinedBehaviorSanitizer, then
# bounded libFuzzer runs (FUZZ_SECONDS in all, default 60: two thirds for
# the token code, one third for the scanner) under the same sanitizers.
# Any failure, sanitizer report or fuzzer finding fails the script.
#
# No PostgreSQL is involved, so test/lib/cluster.sh (which needs pg_config
# and sets up cluster directories) is deliberately not sourced.
#
# UNIT_ONLY=1 runs only the gcc unit tests (as on the chroots' newer
# compilers, where the sanitizer runtimes are other packages).
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib/packages.sh
if [ -n "${UNIT_ONLY:-}" ]; then
	ensure_packages gcc zlib1g-dev
else
	ensure_packages gcc clang libfuzzer-14-dev libclang-rt-14-dev zlib1g-dev
fi

FUZZ_SECONDS=${FUZZ_SECONDS:-60}
out=$(mktemp -d "${TMPDIR:-/tmp}/api_tokens_fuzz.XXXXXX")
# Kept on failure so that the crashing input can be replayed.
trap 'if [ "$?" = 0 ]; then rm -rf "$out"; else echo "build outputs and fuzz artifacts kept in $out" >&2; fi' EXIT
pure=(src/token/base62.c src/token/hex.c src/token/token_format.c)
json=(src/token/json_member.c)
sanitize=("-fsanitize=address,undefined" -fno-sanitize-recover=all)

echo "== unit tests, gcc -O2 -Wall -Wextra -Werror"
gcc -O2 -g -Wall -Wextra -Werror -Isrc -o "$out/unit_gcc" test/unit/token_format_test.c "${pure[@]}" -lz
"$out/unit_gcc"
gcc -O2 -g -Wall -Wextra -Werror -Isrc -o "$out/json_gcc" test/unit/json_member_test.c "${json[@]}"
"$out/json_gcc"
if [ -n "${UNIT_ONLY:-}" ]; then
	echo "unit_and_fuzz: unit tests passed (UNIT_ONLY: no sanitizers, no fuzzing)"
	exit 0
fi

echo "== unit tests, clang with ASan and UBSan"
clang -O1 -g -Wall -Wextra -Werror "${sanitize[@]}" -Isrc -o "$out/unit_asan" \
	test/unit/token_format_test.c "${pure[@]}" -lz
"$out/unit_asan"
clang -O1 -g -Wall -Wextra -Werror "${sanitize[@]}" -Isrc -o "$out/json_asan" \
	test/unit/json_member_test.c "${json[@]}"
"$out/json_asan"

# fuzz NAME SECONDS MAX_LEN CORPUS SOURCES...: builds test/fuzz/NAME.c and
# runs it on a scratch copy of the committed corpus (libFuzzer adds new
# inputs to its first corpus directory).
fuzz() {
	local name=$1 seconds=$2 max_len=$3 corpus=$4
	shift 4
	echo "== libFuzzer: $name for $seconds s, with ASan and UBSan"
	clang -O1 -g -Wall -Wextra -Werror -fsanitize=fuzzer "${sanitize[@]}" -Isrc -o "$out/$name" \
		"test/fuzz/$name.c" "$@"
	cp -r "$corpus" "$out/$name-corpus"
	if ! "$out/$name" -max_total_time="$seconds" -max_len="$max_len" -timeout=10 \
		-print_final_stats=1 -artifact_prefix="$out/$name-" "$out/$name-corpus" >"$out/$name.log" 2>&1; then
		tail -n 60 "$out/$name.log"
		echo "FAIL: the fuzzer found a crash or a broken invariant; replay an input with" >&2
		echo "  $out/$name INPUT, INPUT being one of:" >&2
		for f in "$out/$name"-crash-* "$out/$name"-leak-* "$out/$name"-timeout-* "$out/$name"-oom-*; do
			[ -e "$f" ] && echo "  $f" >&2
		done
		exit 1
	fi
	grep -E "^(Done|stat::number_of_executed_units|stat::new_units_added)" "$out/$name.log"
}
fuzz token_fuzzer $((FUZZ_SECONDS * 2 / 3)) 256 test/fuzz/corpus "${pure[@]}" -lz
fuzz json_member_fuzzer $((FUZZ_SECONDS / 3)) 1024 test/fuzz/json_corpus "${json[@]}"
echo "unit_and_fuzz: all checks passed"
