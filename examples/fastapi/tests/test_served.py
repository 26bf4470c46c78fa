"""The application as uvicorn serves it, with several workers
(test/scripts/examples.sh starts it and sets SERVED_BASE_URL; skipped
otherwise).  The server trusts 127.0.0.2 as a proxy (TRUSTED_PROXIES), so
these tests speak as a proxy by connecting from that address."""
import os
import re
import threading
import time
import uuid

import httpx
import pytest
from sqlalchemy import create_engine, text

from app.bootstrap import issue_token, set_login

BASE = os.environ.get("SERVED_BASE_URL", "")
PROXY_ADDRESS = "127.0.0.2"  # in the server's TRUSTED_PROXIES

pytestmark = pytest.mark.skipif(not BASE, reason="SERVED_BASE_URL is not set (test/scripts/examples.sh sets it)")


def client(from_proxy: bool = False) -> httpx.Client:
    transport = httpx.HTTPTransport(local_address=PROXY_ADDRESS if from_proxy else "127.0.0.1")
    return httpx.Client(base_url=BASE, transport=transport, follow_redirects=False, timeout=30)


def csrf_of(page):
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


@pytest.fixture(scope="module")
def user():
    email, password = f"{uuid.uuid4()}@example.com", "served password"
    engine = create_engine(os.environ["ADMIN_DATABASE_URL"], future=True)
    with engine.begin() as conn:
        set_login(conn, email, password, False)
    engine.dispose()
    return email, password


def login(c, email, password, headers=None):
    page = c.get("/login", headers=headers)
    return c.post("/login", data={"email": email, "password": password, "csrf_token": csrf_of(page)},
                  headers=headers)


def test_a_session_is_known_to_every_worker(user):
    """With a random secret per process, or sessions in one process's
    memory, a login made in one worker was unknown to the others: requests
    (on new connections, spread over the workers) all see it, and all see
    the logout."""
    with client() as c:
        assert login(c, *user).status_code == 303
        for _ in range(20):
            with client() as other:
                other.cookies = c.cookies
                assert other.get("/settings/tokens").status_code == 200
        cookie = c.cookies.get("session")
        page = c.get("/settings/tokens")
        assert c.post("/logout", data={"csrf_token": csrf_of(page)}).status_code == 303
        for _ in range(10):
            with client() as other:
                other.cookies.set("session", cookie)
                assert other.get("/settings/tokens").status_code == 303


def test_concurrent_bad_logins_do_not_stall_other_requests():
    """60 bad logins at once, each from its own address (through the
    trusted proxy), so that no throttle stops them: they used to take every
    thread and the CPU for seconds.  Meanwhile other requests are answered
    promptly; the logins get 401, or 503 when too many wait."""
    statuses, slowest = [], []

    def bad_login(i):
        with client(from_proxy=True) as c:
            headers = {"X-Forwarded-For": f"198.51.100.{i + 1}"}
            statuses.append(login(c, f"nobody-{i}-{uuid.uuid4()}@example.com", "wrong", headers).status_code)

    def other_requests():
        with client() as c:
            for _ in range(15):
                started = time.monotonic()
                assert c.get("/login").status_code == 200
                slowest.append(time.monotonic() - started)
                time.sleep(0.05)
    threads = [threading.Thread(target=bad_login, args=(i,)) for i in range(60)]
    watcher = threading.Thread(target=other_requests)
    for t in threads:
        t.start()
    watcher.start()
    for t in threads + [watcher]:
        t.join(60)
    assert len(statuses) == 60 and set(statuses) <= {401, 503}, statuses
    assert statuses.count(401) >= 2 and len(slowest) == 15
    assert max(slowest) < 1.0, slowest


def test_forwarded_https_is_believed_from_the_trusted_proxy_only(user):
    """Behind a TLS proxy the browser's Origin is https://...: from the
    trusted proxy, with X-Forwarded-Proto: https, the login is accepted;
    the same headers from any other address are not believed."""
    host = BASE.split("://", 1)[1]
    headers = {"X-Forwarded-Proto": "https", "Origin": f"https://{host}", "X-Forwarded-For": "203.0.113.9"}
    with client(from_proxy=True) as c:
        assert login(c, *user, headers=headers).status_code == 303
    with client() as c:
        assert login(c, *user, headers=headers).status_code == 403


def test_allowlists_see_the_client_behind_the_trusted_proxy():
    """A token allowed from 203.0.113.0/24 only: through the trusted proxy,
    the forwarded address is the client's; from anyone else, the peer's
    (its X-Forwarded-For is not believed)."""
    engine = create_engine(os.environ["ADMIN_DATABASE_URL"], future=True)
    with engine.begin() as conn:
        _, token_id, token = issue_token(conn, f"{uuid.uuid4()}@example.com", "behind a proxy", ["tokens:read"], 3600)
        conn.execute(text("SELECT api_tokens.api_token_set_allowed_addresses(CAST(:id AS uuid), CAST(:a AS cidr[]))"),
                     {"id": token_id, "a": ["203.0.113.0/24"]})
    engine.dispose()
    auth = {"Authorization": f"Bearer {token}"}
    with client(from_proxy=True) as c:
        assert c.get("/tokens", headers={**auth, "X-Forwarded-For": "203.0.113.9"}).status_code == 200
        assert c.get("/tokens", headers={**auth, "X-Forwarded-For": "198.51.100.9"}).status_code == 403
    with client() as c:
        assert c.get("/tokens", headers={**auth, "X-Forwarded-For": "203.0.113.9"}).status_code == 403
