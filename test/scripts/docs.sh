#!/usr/bin/env bash
# versions: 15
# The documentation's code, run: every sql, python, js and sh block of
# README.md and docs/*.md, in order, page by page, each page on a
# throwaway cluster of its own (test/lib/doc_blocks.py says how a block can
# ask to be run, or say which script runs it).  Blocks that need what no
# test cluster has (pg_cron, PostgREST, a standby) are run by the script
# named next to them, which reads them from the page.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib/packages.sh
ensure_packages python3-psycopg python3-asyncpg nodejs
command -v npm >/dev/null || ensure_packages npm
. test/lib/cluster.sh
. test/lib/checks.sh

# node-postgres for the js blocks, as the node example locks it.
(cd examples/node && npm ci --silent --no-audit --no-fund >/dev/null)
export NODE_PATH=$PWD/examples/node/node_modules
# The demo builds and installs again; the suite has just done it.
export API_TOKENS_DEMO_NO_BUILD=1

n=0
for page in README.md docs/*.md; do
	n=$((n + 1))
	cluster_init "page$n"
	cluster_start "page$n"
	(cluster_env "page$n" && /usr/bin/python3 test/lib/doc_blocks.py run "$page") ||
		fail "a block of $page"
	cluster_assert_no_crash "page$n"
	cluster_stop "page$n"
done
echo "docs: all checks passed"
