# api_tokens: PGXS build.  make && make install && make installcheck

EXTENSION = api_tokens
EXTVERSION = $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" $(EXTENSION).control)

MODULE_big = api_tokens
# The layers, bottom up (docs/architecture.md): pure token code without
# PostgreSQL headers, the extension's tables, the bookkeeping after a
# validation (in shared memory and the worker when preloaded), and the SQL
# entry points.
PURE_OBJS = src/token/base62.o src/token/hex.o src/token/token_format.o src/token/json_member.o
TABLES_OBJS = src/tables/rel_checks.o src/tables/catalog.o src/tables/row_access.o src/tables/row_hint.o \
	src/tables/limit_rows.o \
	src/tables/token_rows.o src/tables/lineage.o src/tables/events.o src/tables/revocation.o
ENGINE_OBJS = src/engine/last_used.o src/engine/reuse.o src/engine/use_table.o \
	src/engine/limit_table.o src/engine/saved_file.o src/engine/worker.o src/engine/forward.o \
	src/engine/remote.o
API_OBJS = src/api/token_hash.o src/api/token_functions.o src/api/sql_call.o src/api/scopes.o \
	src/api/validate.o src/api/limit_check.o src/api/request_context.o src/api/pre_request.o src/api/issue.o \
	src/api/revoke.o src/api/limits.o src/api/rotate.o src/api/lifecycle.o src/api/idle.o src/api/notices.o src/api/record_uses.o \
	src/api/create_tables.o src/api/check_install.o
OBJS = src/api_tokens.o src/settings.o $(PURE_OBJS) $(TABLES_OBJS) $(ENGINE_OBJS) $(API_OBJS)
SHLIB_LINK += -lcrypto -lz
# libpq: a standby's worker forwards recorded uses to the primary.
PG_CPPFLAGS = -I$(srcdir)/src -I$(libpq_srcdir)
SHLIB_LINK_INTERNAL = $(libpq)

DATA = $(wildcard sql/$(EXTENSION)--*.sql)

# pg_regress in PostgreSQL 15 has no --expecteddir: it reads inputs from
# <inputdir>/sql (or <inputdir>/specs) and looks for expected files in
# <outputdir>/expected, then in <inputdir>/expected.  So the inputs and every
# expected output live in test/ (test/expected); the regression tests write
# to ./results, the isolation tests to ./output_iso.  Each file of test/sql
# runs alone too: make installcheck REGRESS=06_revoke_rotate ISOLATION=
TESTS = $(sort $(wildcard test/sql/*.sql))
REGRESS = $(patsubst test/sql/%.sql,%,$(TESTS))
REGRESS_OPTS = --inputdir=test
ISOLATION = $(patsubst test/specs/%.spec,%,$(sort $(wildcard test/specs/*.spec)))
ISOLATION_OPTS = --inputdir=test --outputdir=output_iso

EXTRA_CLEAN = test/unit/token_format_test test/unit/json_member_test test/fuzz/token_fuzzer

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# The isolation specs that need the library preloaded (test/preloaded/specs,
# expected outputs in test/preloaded/expected), on a temporary server of
# their own configured by test/preloaded/preload.conf; after make install:
#   make installcheck-preloaded
# As root, that server and the tests run as the "postgres" user (initdb
# refuses root).  Output in output_iso/preloaded; the server log must show
# no error of the worker and no crash.
PRELOADED = $(patsubst test/preloaded/specs/%.spec,%,$(sort $(wildcard test/preloaded/specs/*.spec)))
PRELOADED_OUT = output_iso/preloaded

.PHONY: installcheck-preloaded
installcheck-preloaded:
	rm -rf $(PRELOADED_OUT)
	mkdir -p $(PRELOADED_OUT)
	as=; if [ "$$(id -u)" = 0 ]; then chown postgres: $(PRELOADED_OUT); as="runuser -u postgres --"; fi; \
	$$as $(top_builddir)/src/test/isolation/pg_isolation_regress \
		--temp-instance=$(PRELOADED_OUT)/tmp_check --temp-config=test/preloaded/preload.conf \
		--inputdir=test/preloaded --outputdir=$(PRELOADED_OUT) --bindir='$(bindir)' \
		$(pg_regress_locale_flags) $(EXTRA_REGRESS_OPTS) --dbname=preloaded_regression $(PRELOADED)
	@if grep -E 'api_tokens (flusher|could)|terminated by signal' $(PRELOADED_OUT)/log/postmaster.log; then \
		echo "the worker failed or a backend crashed: see $(PRELOADED_OUT)/log/postmaster.log"; exit 1; fi

# C unit tests of the pure token code, optionally under sanitizers:
#   make unittest
#   make unittest UNIT_CC=clang UNIT_CFLAGS="-g -fsanitize=address,undefined -fno-sanitize-recover=all"
UNIT_CC ?= $(CC)
UNIT_CFLAGS ?= -O2 -g -Wall -Wextra -Werror
PURE_SRCS = $(PURE_OBJS:.o=.c)

test/unit/token_format_test: test/unit/token_format_test.c $(PURE_SRCS) src/token/*.h
	$(UNIT_CC) $(UNIT_CFLAGS) -Isrc -o $@ test/unit/token_format_test.c $(PURE_SRCS) -lz

test/unit/json_member_test: test/unit/json_member_test.c src/token/json_member.c src/token/json_member.h
	$(UNIT_CC) $(UNIT_CFLAGS) -Isrc -o $@ test/unit/json_member_test.c src/token/json_member.c

.PHONY: unittest
unittest: test/unit/token_format_test test/unit/json_member_test
	test/unit/token_format_test
	test/unit/json_member_test

# Every linter, failing on a finding (installs what it needs, as root):
# clang-format, cppcheck, shellcheck, flake8 (test/lib/lint.sh).
.PHONY: lint
lint:
	test/lib/lint.sh
