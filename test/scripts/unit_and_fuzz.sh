#!/usr/bin/env bash
# The pure token code on its own: unit tests with gcc (-Werror) and with
# clang under AddressSanitizer and UndefinedBehaviorSanitizer, then a bounded
# libFuzzer run (FUZZ_SECONDS, default 60) under the same sanitizers.
# Any failure, sanitizer report or fuzzer finding fails the script.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib/packages.sh
ensure_packages gcc clang libfuzzer-14-dev libclang-rt-14-dev zlib1g-dev

out=$(mktemp -d "${TMPDIR:-/tmp}/api_tokens_fuzz.XXXXXX")
trap 'rm -rf "$out"' EXIT
pure="src/base62.c src/hex.c src/token_format.c"
sanitize="-fsanitize=address,undefined -fno-sanitize-recover=all"

echo "== unit tests, gcc -Werror"
gcc -O2 -g -Wall -Wextra -Werror -Isrc -o "$out/unit_gcc" test/unit/token_format_test.c $pure -lz
"$out/unit_gcc"

echo "== unit tests, clang with ASan and UBSan"
clang -O1 -g -Wall -Wextra -Werror $sanitize -Isrc -o "$out/unit_asan" test/unit/token_format_test.c $pure -lz
"$out/unit_asan"

echo "== libFuzzer for ${FUZZ_SECONDS:-60} s, with ASan and UBSan"
clang -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -Isrc \
	-o "$out/token_fuzzer" test/fuzz/token_fuzzer.c $pure -lz
# A scratch copy: new corpus entries never land in the repository.
cp -r test/fuzz/corpus "$out/corpus"
if ! "$out/token_fuzzer" -max_total_time="${FUZZ_SECONDS:-60}" -max_len=256 \
	-print_final_stats=1 -artifact_prefix="$out/" "$out/corpus" >"$out/fuzz.log" 2>&1; then
	cat "$out/fuzz.log"
	echo "FAIL: the fuzzer found a crash or a broken invariant" >&2
	exit 1
fi
grep -E "^(Done|stat::number_of_executed_units|stat::new_units_added)" "$out/fuzz.log"
echo "unit_and_fuzz: all checks passed"
