#!/usr/bin/env bash
# The pure token code on its own: unit tests with gcc (-Werror) and with
# clang under AddressSanitizer and UndefinedBehaviorSanitizer, then a bounded
# libFuzzer run (FUZZ_SECONDS, default 60) under the same sanitizers.
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
pure=(src/base62.c src/hex.c src/token_format.c)
sanitize=("-fsanitize=address,undefined" -fno-sanitize-recover=all)

echo "== unit tests, gcc -O2 -Wall -Wextra -Werror"
gcc -O2 -g -Wall -Wextra -Werror -Isrc -o "$out/unit_gcc" test/unit/token_format_test.c "${pure[@]}" -lz
"$out/unit_gcc"
if [ -n "${UNIT_ONLY:-}" ]; then
	echo "unit_and_fuzz: unit tests passed (UNIT_ONLY: no sanitizers, no fuzzing)"
	exit 0
fi

echo "== unit tests, clang with ASan and UBSan"
clang -O1 -g -Wall -Wextra -Werror "${sanitize[@]}" -Isrc -o "$out/unit_asan" \
	test/unit/token_format_test.c "${pure[@]}" -lz
"$out/unit_asan"

echo "== libFuzzer for $FUZZ_SECONDS s, with ASan and UBSan"
clang -O1 -g -Wall -Wextra -Werror -fsanitize=fuzzer "${sanitize[@]}" -Isrc -o "$out/token_fuzzer" \
	test/fuzz/token_fuzzer.c "${pure[@]}" -lz
# libFuzzer adds new inputs to its first corpus directory: a scratch copy,
# never the committed seeds.
cp -r test/fuzz/corpus "$out/corpus"
if ! "$out/token_fuzzer" -max_total_time="$FUZZ_SECONDS" -max_len=256 -timeout=10 \
	-print_final_stats=1 -artifact_prefix="$out/" "$out/corpus" >"$out/fuzz.log" 2>&1; then
	tail -n 60 "$out/fuzz.log"
	echo "FAIL: the fuzzer found a crash or a broken invariant; replay an input with" >&2
	echo "  $out/token_fuzzer INPUT, INPUT being one of:" >&2
	for f in "$out"/crash-* "$out"/leak-* "$out"/timeout-* "$out"/oom-*; do
		[ -e "$f" ] && echo "  $f" >&2
	done
	exit 1
fi
grep -E "^(Done|stat::number_of_executed_units|stat::new_units_added)" "$out/fuzz.log"
echo "unit_and_fuzz: all checks passed"
