#!/usr/bin/env bash
# Shared memory per limited token: the server's shared_memory_size (MB,
# rounded up) with api_tokens.max_limited_tokens at 10,000 and at
# 1,010,000, divided by the million entries between them.
set -euo pipefail
cd "$(dirname "$0")/.."
. test/lib/cluster.sh
cluster_init mem
cluster_configure mem "shared_preload_libraries = 'api_tokens'"
size_mb() {
	as_cluster_owner "$PGBIN/postgres" -D "$(cluster_dir mem)/data" \
		-c "api_tokens.max_limited_tokens=$1" -C shared_memory_size 2>/dev/null | tail -1
}
small=$(size_mb 10000)
large=$(size_mb 1010000)
echo "shared_memory_size: ${small} MB at 10,000 limited tokens, ${large} MB at 1,010,000"
echo "per limited token: $(((large - small) * 1024 * 1024 / 1000000)) bytes (within 1 MB of rounding: +-1 byte)"
