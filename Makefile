# api_tokens: PGXS build.  make && make install && make installcheck

EXTENSION = api_tokens
EXTVERSION = $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" $(EXTENSION).control)

MODULE_big = api_tokens
# Pure token code (no PostgreSQL headers) and the server glue around it.
PURE_OBJS = src/base62.o src/hex.o src/token_format.o src/json_member.o
OBJS = $(PURE_OBJS) \
	src/api_tokens.o src/settings.o src/token_functions.o src/token_hash.o \
	src/rel_checks.o src/token_table.o src/row_access.o src/token_rows.o src/result.o src/scopes.o \
	src/ext_tables.o src/events.o src/lineage.o \
	src/validate.o src/last_used.o src/reuse.o src/context.o src/pre_request.o \
	src/manage.o src/rotate.o src/lifecycle.o src/table_setup.o src/install_check.o \
	src/uses.o src/worker.o src/forward.o src/remote.o
SHLIB_LINK += -lcrypto -lz
# libpq: a standby's worker forwards recorded uses to the primary.
PG_CPPFLAGS = -I$(libpq_srcdir)
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

test/unit/token_format_test: test/unit/token_format_test.c $(PURE_SRCS) src/*.h
	$(UNIT_CC) $(UNIT_CFLAGS) -Isrc -o $@ test/unit/token_format_test.c $(PURE_SRCS) -lz

test/unit/json_member_test: test/unit/json_member_test.c src/json_member.c src/json_member.h
	$(UNIT_CC) $(UNIT_CFLAGS) -Isrc -o $@ test/unit/json_member_test.c src/json_member.c

.PHONY: unittest
unittest: test/unit/token_format_test test/unit/json_member_test
	test/unit/token_format_test
	test/unit/json_member_test
