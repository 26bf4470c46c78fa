#!/usr/bin/env python3
"""The code blocks of the documentation, as tests.

Every fenced block whose language is sql, python, js, sh or conf is code
that a test runs; other fences (text, no language) are pictures and
output.  An HTML comment right before a block may say how:

    <!-- doctest: fresh -->          a new database from this block on
    <!-- doctest: name=NAME -->      a name, for scripts that extract the block
    <!-- doctest: by=SCRIPT -->      run by SCRIPT (which must extract it by name), not here
    <!-- doctest: skip=REASON -->    not run, for REASON (printed)
    <!-- doctest: async -->          a python block that awaits (asyncpg)
    <!-- doctest: user=ROLE -->      a python or js block connects as ROLE
    <!-- doctest: vars=A,B -->       psql variables A and B, given to a python
                                     or js block as globals (python) or
                                     process.env.DOC_VAR_A (js)

and a comment <!-- doctest-setup ... --> holds SQL run, unseen, before the
next block.  The SQL of a page (its blocks and setups) runs in order in one
psql session, so psql variables set with \\gset carry from block to block;
python, js and sh blocks run from that session with \\!, in the repository.

    doc_blocks.py extract FILE NAME   prints the block named NAME
    doc_blocks.py run FILE            runs FILE's blocks against the server
                                      the PG* environment names
"""
import os
import re
import subprocess
import sys
import tempfile

RUNNABLE = {"sql", "python", "js", "sh", "conf"}
FENCE = re.compile(r"^```(\w*)\s*$")
DIRECTIVE = re.compile(r"^<!-- doctest: (.*) -->\s*$")
SETUP_START = re.compile(r"^<!-- doctest-setup\s*$")
COMMENT_END = re.compile(r"^-->\s*$")


def parse_directives(text):
    """'fresh name=x skip=a reason' -> {'fresh': True, 'name': 'x', 'skip': 'a reason'}"""
    found = {}
    for match in re.finditer(r"(\w+)(?:=((?:(?!\s\w+=).)*))?", text):
        found[match.group(1)] = match.group(2).strip() if match.group(2) is not None else True
    return found


def parse(path):
    """The page's items, in order: ('setup', sql, line), ('fresh',) and
    ('block', lang, code, directives, line)."""
    items = []
    lines = open(path, encoding="utf-8").read().split("\n")
    directives = {}
    i = 0
    while i < len(lines):
        line = lines[i]
        if SETUP_START.match(line):
            # A new database for a block starts before the setup that prepares it.
            if directives.pop("fresh", False):
                items.append(("fresh",))
            start = i
            body = []
            i += 1
            while not COMMENT_END.match(lines[i]):
                body.append(lines[i])
                i += 1
            items.append(("setup", "\n".join(body), start + 1))
        elif DIRECTIVE.match(line):
            directives.update(parse_directives(DIRECTIVE.match(line).group(1)))
        elif FENCE.match(line):
            lang = FENCE.match(line).group(1)
            start = i
            body = []
            i += 1
            while lines[i].strip() != "```":
                body.append(lines[i])
                i += 1
            if lang in RUNNABLE:
                items.append(("block", lang, "\n".join(body), directives, start + 1))
            elif directives:
                sys.exit(f"{path}:{start + 1}: doctest directives on a block that is not code")
            directives = {}
        elif line.strip() and directives:
            sys.exit(f"{path}:{i + 1}: a doctest directive must come right before its block")
        i += 1
    return items


def extract(path, name):
    for item in parse(path):
        if item[0] == "block" and item[3].get("name") == name:
            return item[2]
    sys.exit(f"{path}: no block named {name}")


PYTHON_PRELUDE = '''\
import os
DOC = {k[len("DOC_VAR_"):]: v for k, v in os.environ.items() if k.startswith("DOC_VAR_")}
globals().update(DOC)
bearer_token = DOC.get("token")


class HTTPException(Exception):
    pass


'''

PYTHON_SYNC = PYTHON_PRELUDE + '''\
import psycopg
conn = psycopg.connect(dbname=os.environ["PGDATABASE"], user=os.environ["DOC_USER"])
'''

PYTHON_ASYNC = PYTHON_PRELUDE + '''\
import asyncio
import asyncpg


async def main():
    conn = await asyncpg.connect(host=os.environ["PGHOST"], port=os.environ["PGPORT"],
                                 database=os.environ["PGDATABASE"], user=os.environ["DOC_USER"])
'''

JS_PRELUDE = '''\
'use strict';
const { Pool } = require('pg');
const pool = new Pool({ user: process.env.DOC_USER });
const userId = process.env.DOC_VAR_user_id;
(async () => {
'''


def program(lang, code, directives):
    """The file that runs a python or js block, and the command that runs it."""
    if lang == "python" and directives.get("async"):
        body = "\n".join("    " + line for line in code.split("\n"))
        return PYTHON_ASYNC + body + "\n    await conn.close()\n\n\nasyncio.run(main())\n", "/usr/bin/python3"
    if lang == "python":
        return PYTHON_SYNC + code + "\nconn.close()\n", "/usr/bin/python3"
    if lang == "js":
        return (JS_PRELUDE + code
                + "\nawait pool.end();\n})().catch((e) => { console.error(e); process.exit(1); });\n", "node")
    if lang == "sh":
        return "set -euo pipefail\n" + code + "\n", "bash"
    raise ValueError(lang)


def run(path):
    items = parse(path)
    work = tempfile.mkdtemp(prefix="doc_blocks.")
    failed = os.path.join(work, "failed")
    page = re.sub(r"\W", "_", os.path.splitext(os.path.basename(path))[0]).lower()
    databases = 0
    script = ["\\set ON_ERROR_STOP 1", "\\set VERBOSITY default"]

    def new_database():
        nonlocal databases
        databases += 1
        name = f"doc_{page}_{databases}"
        script.extend([f"CREATE DATABASE {name};", f"\\c {name}", "SET client_min_messages = warning;"])

    new_database()
    ran, skipped = 0, []
    for n, item in enumerate(items):
        if item[0] == "fresh":
            new_database()
            continue
        if item[0] == "setup":
            script.append(f"\\echo '-- {path}:{item[2]}: setup'")
            script.append(item[1])
            continue
        _, lang, code, directives, line = item
        where = f"{path}:{line}"
        if directives.get("fresh"):
            new_database()
        if "skip" in directives:
            skipped.append(f"{where}: {directives['skip']}")
            continue
        if "by" in directives:
            by = directives["by"]
            text = open(by, encoding="utf-8").read()
            if "doc_blocks.py extract" not in text or directives.get("name") not in text:
                sys.exit(f"{where}: {by} does not extract block {directives.get('name')}")
            skipped.append(f"{where}: run by {by}")
            continue
        if lang == "conf":
            sys.exit(f"{where}: a conf block is run by a script (by=...) or skipped with a reason")
        ran += 1
        script.append(f"\\echo '-- {where}: {lang}'")
        if lang == "sql":
            script.append(code)
            continue
        source, command = program(lang, code, directives)
        file = os.path.join(work, f"block{n}.{ {'python': 'py', 'js': 'js', 'sh': 'sh'}[lang] }")
        open(file, "w", encoding="utf-8").write(source)
        for var in filter(None, str(directives.get("vars", "")).split(",")):
            script.append(f"\\setenv DOC_VAR_{var} :{var}")
        if lang == "js":
            script.append("\\setenv DOC_VAR_user_id :user_id")
        script.append(f"\\setenv DOC_USER {directives.get('user', os.environ.get('PGUSER', 'postgres'))}")
        script.append("\\setenv PGDATABASE :DBNAME")
        script.append(f"\\! {command} {file} || echo '{where}' >> {failed}")
    sql_file = os.path.join(work, "page.sql")
    open(sql_file, "w", encoding="utf-8").write("\n".join(script) + "\n")
    result = subprocess.run(["psql", "-X", "-q", "-d", "postgres", "-f", sql_file],
                            capture_output=True, text=True)
    out = result.stdout + result.stderr
    if result.returncode != 0 or os.path.exists(failed):
        print(out)
        if os.path.exists(failed):
            print("failed blocks:\n" + open(failed).read())
        sys.exit(f"FAIL: {path}: a block failed (the SQL the page ran is in {sql_file})")
    for line in skipped:
        print(f"   not here: {line}")
    print(f"ok: {path}: {ran} blocks ran, {len(skipped)} elsewhere or skipped")


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "extract":
        print(extract(sys.argv[2], sys.argv[3]))
    elif len(sys.argv) == 3 and sys.argv[1] == "run":
        run(sys.argv[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
