"""PostgREST's per-request transactions, replayed over psycopg 3.

Run by test/scripts/postgrest_replay.sh (which builds the clusters and the
setup, and passes the tokens in the environment) with Debian's Python:

    /usr/bin/python3 test/scripts/postgrest_replay.py primary|standby

Every request is what PostgREST 12 sends for it, statement by statement, on
a connection of the role authenticator, every value a parameter bound on
the server (psycopg 3's %s), the statements prepared as PostgREST prepares
them (db-prepared-statements, its default).  Prints an "ok: ..." line per
check; on the first failure prints "FAIL: ..." and exits with status 1.
"""
import json
import os
import sys

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.types.json import Json

ALICE_ID = os.environ["ALICE_ID"]
BOB_ID = os.environ["BOB_ID"]
ALICE = os.environ["ALICE_TOKEN"]
BOB = os.environ["BOB_TOKEN"]
REVOKED = os.environ["REVOKED_TOKEN"]
UNKNOWN = os.environ["UNKNOWN_TOKEN"]
MALFORMED = os.environ["MALFORMED_TOKEN"]
TOKENS = [ALICE, BOB, REVOKED, UNKNOWN, MALFORMED]

# db-schemas = public, db-extra-search-path = public (PostgREST's defaults).
SEARCH_PATH = '"public", "public"'
# What PostgREST 12 runs in every request's transaction, in this order.
SET_LOCALS = (
    "SELECT set_config('search_path', %s, true), set_config('role', %s, true), "
    "set_config('request.jwt.claims', %s, true), set_config('request.method', %s, true), "
    "set_config('request.path', %s, true), set_config('request.headers', %s, true), "
    "set_config('request.cookies', %s, true)")
# db-pre-request = "auth.api_tokens_pre_request"
PRE_REQUEST = 'SELECT "auth"."api_tokens_pre_request"()'
# GET /notes
READ = (
    'WITH pgrst_source AS (SELECT "public"."notes".* FROM "public"."notes") '
    "SELECT null::bigint AS total_result_set, pg_catalog.count(_postgrest_t) AS page_total, "
    "coalesce(json_agg(_postgrest_t), '[]') AS body, "
    "nullif(current_setting('response.headers', true), '') AS response_headers, "
    "nullif(current_setting('response.status', true), '') AS response_status "
    "FROM (SELECT * FROM pgrst_source) _postgrest_t")
# POST /notes with Prefer: return=representation; the body is a json parameter.
WRITE = (
    'WITH pgrst_source AS (INSERT INTO "public"."notes"("body", "owner_id") '
    'SELECT "pgrst_body"."body", "pgrst_body"."owner_id" '
    "FROM (SELECT %s AS json_data) pgrst_payload, "
    'LATERAL (SELECT "body", "owner_id" FROM json_to_record(pgrst_payload.json_data) '
    'AS _("body" text, "owner_id" uuid) ) pgrst_body '
    'RETURNING "public"."notes".*) '
    "SELECT '' AS total_result_set, pg_catalog.count(_postgrest_t) AS page_total, "
    "array[]::text[] AS header, coalesce(json_agg(_postgrest_t), '[]') AS body, "
    "nullif(current_setting('response.headers', true), '') AS response_headers, "
    "nullif(current_setting('response.status', true), '') AS response_status, "
    "'' AS response_inserted "
    'FROM (SELECT "notes".* FROM "pgrst_source" AS "notes") _postgrest_t')

BROWSER = {"host": "api.example", "user-agent": "curl/8.5.0", "accept": "*/*"}


def ok(what):
    print(f"ok: {what}", flush=True)


def fail(what):
    print(f"FAIL: {what}", file=sys.stderr, flush=True)
    sys.exit(1)


def expect(what, expected, actual):
    if expected != actual:
        fail(f"{what}: expected {expected!r}, got {actual!r}")


def connect(user="authenticator"):
    # The environment (PGHOST, PGPORT, PGDATABASE) points at the server.
    return psycopg.connect(user=user, autocommit=True)


class Request:
    """One request: headers as PostgREST sends them (lowercase names)."""

    def __init__(self, headers=None, method="GET", role="anon", claims=None, body=None,
                 between=(), after=(), end="COMMIT"):
        self.headers = dict(BROWSER, **(headers or {}))
        self.method = method
        self.role = role
        self.claims = claims if claims is not None else {"role": role}
        self.body = body
        self.between = between  # statements after the settings, before the pre-request
        self.after = after      # statements after the pre-request, before the query
        self.end = end

    def run(self, conn):
        """The response body (a list of rows) and the rows of each "after" statement."""
        mode = "READ ONLY" if self.method == "GET" else "READ WRITE"
        conn.execute(f"BEGIN ISOLATION LEVEL READ COMMITTED {mode}")
        try:
            conn.execute(SET_LOCALS, (SEARCH_PATH, self.role, json.dumps(self.claims),
                                      self.method, "/notes", json.dumps(self.headers), "{}"),
                         prepare=True)
            for statement, params in self.between:
                conn.execute(statement, params)
            conn.execute(PRE_REQUEST, prepare=True)
            seen = [conn.execute(statement, params).fetchall() for statement, params in self.after]
            if self.method == "GET":
                row = conn.execute(READ, prepare=True).fetchone()
                body = row[2]
            else:
                row = conn.execute(WRITE, (Json(self.body),), prepare=True).fetchone()
                body = row[3]
            conn.execute(self.end)
        except psycopg.Error:
            conn.execute("ROLLBACK")
            raise
        return body, seen


def notes(body):
    return sorted((n["owner_id"], n["body"]) for n in body)


def error_of(conn, request):
    """The error a request fails with (it must fail); the connection is idle again."""
    try:
        request.run(conn)
    except psycopg.Error as e:
        expect("connection idle after the failed request", TransactionStatus.IDLE,
               conn.info.transaction_status)
        return e
    fail(f"expected the request with headers {sorted(request.headers)} to fail")


def assert_no_token(what, error):
    diag = error.diag
    for text in (str(error), diag.message_primary, diag.message_detail, diag.message_hint,
                 diag.context, diag.statement_position, diag.internal_query):
        for token in TOKENS:
            if text and token in text:
                fail(f"{what}: the error carries the token: {text!r}")


class Checks:
    def __init__(self):
        self.admin = connect("postgres")  # superuser: sees every row, for the expected answers
        self.conn = connect()

    def expected(self, user_id):
        rows = self.admin.execute("SELECT owner_id::text, body FROM notes WHERE owner_id = %s",
                                  (user_id,)).fetchall()
        return sorted(rows)

    def get(self, headers=None, conn=None, **kw):
        return notes(Request(headers, **kw).run(conn or self.conn)[0])

    def expect_notes(self, what, user_id, headers, conn=None, **kw):
        wanted = self.expected(user_id)
        if not wanted:
            fail(f"{what}: the fixture has no notes of {user_id}")
        expect(what, wanted, self.get(headers, conn, **kw))
        ok(what)

    def expect_pt401(self, what, headers, status, conn=None):
        e = error_of(conn or self.conn, Request(headers))
        expect(f"{what}: SQLSTATE", "PT401", e.sqlstate)
        expect(f"{what}: message", "invalid API token", e.diag.message_primary)
        expect(f"{what}: detail", f"The token presented is {status}.", e.diag.message_detail)
        assert_no_token(what, e)

    # 1, 2, 3, 4: GET, on either server.
    def reads(self, where):
        alice_notes = self.expected(ALICE_ID)
        self.expect_notes(f"{where}: GET with Authorization: Bearer (alice): exactly her notes",
                          ALICE_ID, {"authorization": f"Bearer {ALICE}"})
        self.expect_notes(f"{where}: GET with x-api-key (alice): the same", ALICE_ID,
                          {"x-api-key": ALICE})
        self.expect_notes(f"{where}: GET with x-api-key (bob): exactly his notes", BOB_ID,
                          {"x-api-key": BOB})
        for value in (f"bearer {ALICE}", f"BEARER {ALICE}", f"Bearer \t {ALICE} \t"):
            expect(f"{where}: Authorization {value.split()[0]!r} with blanks", alice_notes,
                   self.get({"authorization": value}))
        ok(f"{where}: the Bearer scheme in any case, with spaces or tabs around the token")
        expect(f"{where}: x-api-key before Authorization", self.expected(BOB_ID),
               self.get({"x-api-key": BOB, "authorization": f"Bearer {ALICE}"}))
        ok(f"{where}: with both headers, x-api-key is the one authenticated")
        # PostgREST lowercases header names; other spellings are not looked at.
        for headers in ({"Authorization": f"Bearer {ALICE}"}, {"X-Api-Key": ALICE}):
            expect(f"{where}: {sorted(headers)} not lowercase", [], self.get(headers))
        ok(f"{where}: header names are read as PostgREST writes them (lowercase): others are ignored")

        # 2: anonymous.
        expect(f"{where}: no token", [], self.get())
        expect(f"{where}: no headers at all", [], notes(Request().run(self.conn)[0]))
        expect(f"{where}: empty bearer", [], self.get({"authorization": "Bearer "}))
        expect(f"{where}: a JWT bearer", [],
               self.get({"authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoiYW5vbiJ9.c2ln"}))
        ok(f"{where}: no token (or a JWT, PostgREST's own): no error, an empty list")

        # 3: a presented token that is not valid.
        for name, token, status in (("revoked", REVOKED, "inactive"),
                                    ("malformed", MALFORMED, "malformed"),
                                    ("unknown", UNKNOWN, "unknown")):
            self.expect_pt401(f"{where}: {name} token in Authorization",
                              {"authorization": f"Bearer {token}"}, status)
            self.expect_pt401(f"{where}: {name} token in x-api-key", {"x-api-key": token}, status)
            expect(f"{where}: the request after a {name} token", alice_notes,
                   self.get({"x-api-key": ALICE}))
            ok(f"{where}: {name} token: PT401 (detail: {status}) without the token, rolled back; "
               "the next request on the connection works")

        # 4: nothing is handed on to the next transaction of a pooled connection.
        body, seen = Request({"x-api-key": ALICE}, after=[(
            "SELECT auth.api_token_current_user()::text, auth.api_token_current_scopes()", None)]
        ).run(self.conn)
        expect(f"{where}: context inside the request",
               [[(ALICE_ID, ["notes:read", "notes:write"])]], seen)
        expect(f"{where}: next request without a token", [], self.get())
        ok(f"{where}: a request after alice's on the same connection, without a token, sees nothing")
        current = ("SELECT auth.api_token_current_user()", None)
        for end in ("COMMIT", "ROLLBACK"):
            Request({"x-api-key": ALICE}, end=end).run(self.conn)
            expect(f"{where}: after {end}", [[(None,)]], Request(after=[current]).run(self.conn)[1])
        e = error_of(self.conn, Request({"x-api-key": REVOKED}, between=[
            ("SELECT set_config('request.headers', %s, true)",
             (json.dumps({"x-api-key": ALICE}),)),
            ('SELECT "auth"."api_tokens_pre_request"()', None),
            ("SELECT set_config('request.headers', %s, true)",
             (json.dumps({"x-api-key": REVOKED}),))]))
        expect(f"{where}: second pre-request with a revoked token", "PT401", e.sqlstate)
        expect(f"{where}: after a PT401", [[(None,)]], Request(after=[current]).run(self.conn)[1])
        ok(f"{where}: api_token_current_user() is NULL in the next transaction after COMMIT, "
           "ROLLBACK and a PT401")

        # Prepared statements: generic plans must not keep a user's answer.
        self.conn.execute("SET plan_cache_mode = force_generic_plan")
        for i in range(12):
            user_id, token = (ALICE_ID, ALICE) if i % 2 == 0 else (BOB_ID, BOB)
            expect(f"{where}: alternating request {i}", self.expected(user_id),
                   self.get({"x-api-key": token}))
        self.conn.execute("RESET plan_cache_mode")
        ok(f"{where}: 12 requests alternating alice and bob on one connection, generic plans: "
           "each sees only their notes")

    # 5: POST.
    def writes(self):
        before = self.expected(ALICE_ID)
        body, _ = Request({"x-api-key": ALICE}, method="POST",
                          body={"body": "alice via POST", "owner_id": ALICE_ID}).run(self.conn)
        expect("POST as alice: the row returned", [(ALICE_ID, "alice via POST")], notes(body))
        expect("POST as alice: the note is hers", sorted(before + [(ALICE_ID, "alice via POST")]),
               self.get({"x-api-key": ALICE}))
        ok("POST as alice (READ WRITE, role anon): her own note is inserted and returned")
        for what, token, owner in (("alice writing a note for bob", ALICE, BOB_ID),
                                   ("bob without notes:write", BOB, BOB_ID),
                                   ("anonymous", None, ALICE_ID)):
            headers = {"x-api-key": token} if token else {}
            e = error_of(self.conn, Request(headers, method="POST",
                                            body={"body": "refused", "owner_id": owner}))
            expect(f"POST, {what}: SQLSTATE", "42501", e.sqlstate)
            if "row-level security" not in e.diag.message_primary:
                fail(f"POST, {what}: not the policy's error: {e.diag.message_primary}")
            assert_no_token(f"POST, {what}", e)
            ok(f"POST, {what}: refused by the policy (42501)")
        expect("no refused note was written", 0, self.admin.execute(
            "SELECT count(*) FROM notes WHERE body = 'refused'").fetchone()[0])

    # 1 (web_user): the role of a JWT-authenticated request.
    def web_user(self):
        jwt = "Bearer eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoid2ViX3VzZXIifQ.c2ln"
        claims = {"role": "web_user", "sub": "someone"}
        self.expect_notes("role web_user (a verified JWT) with x-api-key (alice): her notes",
                          ALICE_ID, {"authorization": jwt, "x-api-key": ALICE},
                          role="web_user", claims=claims)
        expect("role web_user, JWT only", [], self.get({"authorization": jwt}, role="web_user",
                                                       claims=claims))
        ok("role web_user with a JWT only: the pre-request leaves it alone, no notes")

    # 6: forging.
    def forgery(self):
        forged = [
            ("request.jwt.claims with a sub", []),
            ("api_tokens.user_id", [("api_tokens.user_id", ALICE_ID)]),
            ("api_tokens.current_user", [("api_tokens.current_user", ALICE_ID)]),
            ("api_tokens.token_id", [("api_tokens.token_id", ALICE_ID)]),
            ("api_tokens.actor", [("api_tokens.actor", ALICE_ID)]),
            ("request.headers set after the pre-request", []),
        ]
        claims = {"role": "anon", "sub": ALICE_ID, "user_id": ALICE_ID}
        for fresh in (True, False):
            for what, settings in forged:
                conn = connect() if fresh else self.conn
                between = [("SELECT set_config(%s, %s, true)", s) for s in settings]
                after = []
                if what.startswith("request.headers"):
                    after = [("SELECT set_config('request.headers', %s, true)",
                              (json.dumps({"x-api-key": ALICE}),))]
                request = Request(claims=claims, between=between, after=after + [(
                    "SELECT auth.api_token_current_user(), auth.api_token_has_scope('notes:read')",
                    None)])
                try:
                    body, seen = request.run(conn)
                except psycopg.Error as e:
                    # Refused outright, once the library is loaded: its prefix is reserved.
                    if not settings or e.sqlstate != "42602":
                        fail(f"forging {what}: unexpected error {e.sqlstate} {e}")
                    expect(f"forging {what}: connection idle", TransactionStatus.IDLE,
                           conn.info.transaction_status)
                    body, seen = [], [[(None, False)]] * len(request.after)
                expect(f"forging {what}", ([], [(None, False)]), (notes(body), seen[-1]))
                if fresh:
                    conn.close()
        ok("forged settings (request.jwt.claims with a sub, api_tokens.*, request.headers after "
           "the pre-request), without a token: no notes, no context; on fresh and used connections")

    # The least privileges: what the request roles need, and what they do not.
    def privileges(self):
        a = self.admin
        rows = a.execute("""
            SELECT has_function_privilege('anon', 'auth.api_token_validate(text, text[])', 'EXECUTE'),
                   has_function_privilege('anon', 'auth.api_token_authenticate(text, text[])', 'EXECUTE'),
                   has_table_privilege('anon', 'auth.api_tokens', 'SELECT'),
                   has_function_privilege('authenticator', 'auth.api_tokens_pre_request()', 'EXECUTE'),
                   has_function_privilege('authenticator', 'auth.api_token_current_user()', 'EXECUTE'),
                   has_function_privilege('anon', 'auth.api_tokens_pre_request()', 'EXECUTE')
            """).fetchone()
        expect("privileges of the fixture", (False, False, False, False, False, True), rows)
        ok("anon validates through the pre-request without EXECUTE on api_token_validate or "
           "api_token_authenticate and without SELECT on api_tokens; authenticator holds nothing")
        setting = connect().execute("SELECT current_setting('pgrst.db_pre_request')").fetchone()[0]
        expect("pgrst.db_pre_request of authenticator", "auth.api_tokens_pre_request", setting)
        ok("ALTER ROLE authenticator SET pgrst.db_pre_request: a plain setting of its sessions")

        post = Request({"x-api-key": ALICE}, method="POST",
                       body={"body": "privilege check", "owner_id": ALICE_ID})

        def refused(what, revoke, grant, requests, name):
            a.execute(revoke)
            try:
                for request in requests:
                    with connect() as conn:  # new sessions: nothing prepared or cached
                        e = error_of(conn, request)
                    expect(f"{what}: SQLSTATE", "42501", e.sqlstate)
                    if name not in e.diag.message_primary:
                        fail(f"{what}: unexpected error: {e.diag.message_primary}")
            finally:
                a.execute(grant)
            ok(f"{what}: 42501")

        refused("without EXECUTE on api_tokens_pre_request for anon",
                "REVOKE EXECUTE ON FUNCTION auth.api_tokens_pre_request() FROM anon",
                "GRANT EXECUTE ON FUNCTION auth.api_tokens_pre_request() TO anon",
                [Request({"x-api-key": ALICE}), Request()], "api_tokens_pre_request")
        refused("EXECUTE on api_tokens_pre_request for authenticator instead of anon",
                "REVOKE EXECUTE ON FUNCTION auth.api_tokens_pre_request() FROM anon;"
                "GRANT EXECUTE ON FUNCTION auth.api_tokens_pre_request() TO authenticator",
                "REVOKE EXECUTE ON FUNCTION auth.api_tokens_pre_request() FROM authenticator;"
                "GRANT EXECUTE ON FUNCTION auth.api_tokens_pre_request() TO anon",
                [Request({"x-api-key": ALICE})], "api_tokens_pre_request")
        refused("without USAGE on schema auth for anon",
                "REVOKE USAGE ON SCHEMA auth FROM anon", "GRANT USAGE ON SCHEMA auth TO anon",
                [Request({"x-api-key": ALICE})], "schema auth")
        refused("without EXECUTE on api_token_current_user for anon (the policies call it)",
                "REVOKE EXECUTE ON FUNCTION auth.api_token_current_user() FROM anon",
                "GRANT EXECUTE ON FUNCTION auth.api_token_current_user() TO anon",
                [Request({"x-api-key": ALICE}), Request()], "api_token_current_user")
        # api_token_has_scope: only the INSERT policy calls it.
        a.execute("REVOKE EXECUTE ON FUNCTION auth.api_token_has_scope(text) FROM anon")
        try:
            with connect() as conn:
                expect("GET without api_token_has_scope", self.expected(ALICE_ID),
                       notes(Request({"x-api-key": ALICE}).run(conn)[0]))
        finally:
            a.execute("GRANT EXECUTE ON FUNCTION auth.api_token_has_scope(text) TO anon")
        refused("POST without EXECUTE on api_token_has_scope for anon (the INSERT policy calls it)",
                "REVOKE EXECUTE ON FUNCTION auth.api_token_has_scope(text) FROM anon",
                "GRANT EXECUTE ON FUNCTION auth.api_token_has_scope(text) TO anon",
                [post], "api_token_has_scope")
        # The context functions the policies do not call are not needed.
        a.execute("REVOKE EXECUTE ON FUNCTION auth.api_token_current_token(), "
                  "auth.api_token_current_scopes() FROM anon")
        try:
            with connect() as conn:
                expect("GET without current_token/current_scopes", self.expected(ALICE_ID),
                       notes(Request({"x-api-key": ALICE}).run(conn)[0]))
                post.run(conn)
        finally:
            a.execute("GRANT EXECUTE ON FUNCTION auth.api_token_current_token(), "
                      "auth.api_token_current_scopes() TO anon")
        ok("without EXECUTE on api_token_current_token and api_token_current_scopes (unused by the "
           "policies): GET and POST work")
        a.execute("DELETE FROM notes WHERE body = 'privilege check'")

    # A plain application role: api_token_authenticate, then its queries, in one transaction.
    def application(self):
        with psycopg.connect(user="app") as conn:  # not autocommit: psycopg opens transactions
            status = conn.execute("SELECT status FROM auth.api_token_authenticate(%s::text, NULL::text[])",
                                  (ALICE,)).fetchone()[0]
            rows = conn.execute("SELECT owner_id::text, body FROM notes").fetchall()
            conn.execute("INSERT INTO notes (owner_id, body) VALUES (%s, 'alice via app')",
                         (ALICE_ID,))
            conn.commit()
            expect("app: authenticate", "valid", status)
            expect("app: alice's notes", self.expected(ALICE_ID),
                   sorted(rows + [(ALICE_ID, "alice via app")]))
            expect("app: next transaction", [],
                   conn.execute("SELECT owner_id::text, body FROM notes").fetchall())
            conn.commit()
            status = conn.execute("SELECT status FROM auth.api_token_authenticate(%s::text, NULL::text[])",
                                  (REVOKED,)).fetchone()[0]
            expect("app: revoked token", ("inactive", []),
                   (status, conn.execute("SELECT body FROM notes").fetchall()))
            conn.rollback()
        privileges = self.admin.execute("""
            SELECT has_function_privilege('app', 'auth.api_token_validate(text, text[])', 'EXECUTE'),
                   has_function_privilege('app', 'auth.api_tokens_pre_request()', 'EXECUTE'),
                   has_table_privilege('app', 'auth.api_tokens', 'SELECT')""").fetchone()
        expect("app's privileges", (False, False, False), privileges)
        self.admin.execute("DELETE FROM notes WHERE body = 'alice via app'")
        ok("plain application role (EXECUTE on api_token_authenticate, api_token_current_user, "
           "api_token_has_scope): authenticate then query in one transaction; nothing in the next")

    # Plans: STABLE and PARALLEL RESTRICTED, as policies use them.
    def plans(self):
        self.admin.execute(f"""
            CREATE TABLE plan_plain (owner_id uuid NOT NULL, body text NOT NULL);
            CREATE TABLE plan_initplan (owner_id uuid NOT NULL, body text NOT NULL);
            INSERT INTO plan_plain
                SELECT CASE WHEN n % 4 = 0 THEN '{ALICE_ID}'::uuid ELSE '{BOB_ID}'::uuid END,
                       'note ' || n
                  FROM generate_series(1, 40000) n;
            INSERT INTO plan_initplan SELECT * FROM plan_plain;
            ALTER TABLE plan_plain ENABLE ROW LEVEL SECURITY;
            ALTER TABLE plan_initplan ENABLE ROW LEVEL SECURITY;
            CREATE POLICY mine ON plan_plain FOR SELECT
                USING (owner_id = auth.api_token_current_user());
            CREATE POLICY mine ON plan_initplan FOR SELECT
                USING (owner_id = (SELECT auth.api_token_current_user()));
            GRANT SELECT ON plan_plain, plan_initplan TO anon;
            ANALYZE plan_plain, plan_initplan;
        """)

        def plan_and_count(table, settings):
            """EXPLAIN and count(*) of table in a request of alice, after settings."""
            query = f"SELECT count(*) FROM {table}"
            _, seen = Request({"x-api-key": ALICE}, after=[
                ("SELECT set_config(name, setting, true) FROM (VALUES " +
                 ", ".join(["(%s, %s)"] * len(settings)) + ") s (name, setting)",
                 [v for pair in settings for v in pair]),
                ("EXPLAIN (COSTS OFF) " + query, None), (query, None)]).run(self.conn)
            return "\n".join(line for (line,) in seen[1]), seen[2][0][0]

        # Parallel plans wherever the planner may use one; the tables are the
        # same but for the policy's form.
        parallel = [("parallel_setup_cost", "0"), ("parallel_tuple_cost", "0"),
                    ("min_parallel_table_scan_size", "0")]
        plan, count = plan_and_count("plan_plain", parallel)
        expect("plan_plain: alice's rows", 10000, count)
        if "Parallel" in plan or "Gather" in plan:
            fail(f"api_token_current_user() in a policy, a parallel plan:\n{plan}")
        ok("policy with api_token_current_user(): the table is not scanned in parallel "
           "(no Gather), the count is right")
        plan, count = plan_and_count("plan_initplan", parallel)
        expect("plan_initplan: alice's rows", 10000, count)
        if "Parallel Seq Scan on plan_initplan" not in plan or "InitPlan" not in plan:
            fail(f"(SELECT api_token_current_user()) in a policy, no parallel scan:\n{plan}")
        ok("policy with (SELECT api_token_current_user()): an InitPlan run once by the leader, "
           "a Parallel Seq Scan, the count is right")
        self.admin.execute("CREATE INDEX ON plan_plain (owner_id); ANALYZE plan_plain")
        plan, count = plan_and_count("plan_plain", [("enable_seqscan", "off")])
        expect("plan_plain by index: alice's rows", 10000, count)
        if not any("Index Cond" in line and "api_token_current_user()" in line
                   for line in plan.splitlines()):
            fail(f"api_token_current_user() not used as an index condition:\n{plan}")
        ok("policy with api_token_current_user(): usable as an index condition (STABLE)")
        self.admin.execute("DROP TABLE plan_plain, plan_initplan")


def main():
    where = sys.argv[1]
    checks = Checks()
    in_recovery = checks.admin.execute("SELECT pg_is_in_recovery()").fetchone()[0]
    expect("pg_is_in_recovery()", where == "standby", in_recovery)
    checks.reads(where)
    if where == "primary":
        checks.web_user()
        checks.writes()
        checks.forgery()
        checks.privileges()
        checks.application()
        checks.plans()


if __name__ == "__main__":
    main()
