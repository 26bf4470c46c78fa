#!/usr/bin/env bash
# versions: 15
# Lint: clang-format and cppcheck over the C code, shellcheck over the shell
# scripts, flake8 over the Python files; any finding fails (see
# test/lib/lint.sh, which does the work and is also run on its own).
set -euo pipefail
cd "$(dirname "$0")/../.."
exec test/lib/lint.sh
