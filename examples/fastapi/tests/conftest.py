"""Fixtures.  Needs a migrated database (alembic upgrade head) and two URLs:
ADMIN_DATABASE_URL, the owner, to set up users and first tokens as
app/bootstrap.py does; DATABASE_URL, the application role the API uses
(postgresql+asyncpg).  PG_SERVER_LOG, when set, is the server's log file,
which tests/test_attacks.py searches for tokens."""
import os
import re
import secrets
import tempfile
import uuid
from dataclasses import dataclass
from typing import Dict, List, Optional

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

os.environ.setdefault("SESSION_SECRET", secrets.token_urlsafe(32))
# Every request of the tests comes from one address ("testclient"): the
# throttle per address is tested with an application of its own
# (test_sessions.py).
os.environ.setdefault("LOGIN_ATTEMPTS_PER_ADDRESS", "100000")
# Hypothesis keeps its cache of Unicode data outside the work tree.
os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", os.path.join(tempfile.gettempdir(), "api_tokens-hypothesis"))

from app.bootstrap import issue_token, set_login  # noqa: E402
from app.main import app  # noqa: E402

BASE_URL = "http://testserver"
PASSWORD = "correct horse battery staple"


@dataclass
class Caller:
    user_id: uuid.UUID
    token_id: uuid.UUID
    token: str

    @property
    def headers(self) -> Dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture(scope="session")
def admin():
    """The database owner, through psycopg2 (it sends no token)."""
    engine = create_engine(os.environ["ADMIN_DATABASE_URL"], future=True)
    yield engine
    engine.dispose()


# Every response of the application the tests received with a 5xx status
# (recorded by an httpx event hook of every client; see no_server_errors).
SERVER_ERRORS: List[str] = []


def record_server_errors(response: httpx.Response) -> None:
    if response.status_code >= 500:
        SERVER_ERRORS.append(f"{response.request.method} {response.request.url.path}: {response.status_code}")


@pytest.fixture(autouse=True)
def no_server_errors():
    """Fails any test during which the application answered with a 5xx,
    whatever the test itself asserted (a test that expects a 503, say,
    takes its entries out)."""
    SERVER_ERRORS.clear()
    yield SERVER_ERRORS
    assert SERVER_ERRORS == [], f"the application answered with a server error: {SERVER_ERRORS}"


@pytest.fixture(scope="session")
def client():
    """The application, started once: its asyncpg connections live on the
    event loop of this client's portal."""
    with TestClient(app, base_url=BASE_URL) as c:
        c.event_hooks = {"request": [], "response": [record_server_errors]}
        yield c


@pytest.fixture
def run(client):
    """run(async_function, *args): runs it on the application's event loop."""
    return client.portal.call


@pytest.fixture
def engine(client):
    """The application's engine (the least-privileged role, asyncpg)."""
    return app.state.engine


@pytest.fixture
def new_caller(admin):
    """new_caller(scopes=..., expires_in_seconds=...): a new user with a bootstrap token."""
    def make(scopes=("tokens:read", "tokens:write"), expires_in_seconds: Optional[int] = None) -> Caller:
        with admin.begin() as conn:
            return Caller(*issue_token(conn, f"{uuid.uuid4()}@example.com", "test", scopes, expires_in_seconds))
    return make


@dataclass
class WebUser:
    id: uuid.UUID
    email: str
    password: str


@pytest.fixture
def new_web_user(admin):
    """new_web_user(is_admin=False): a user who can log in to the pages."""
    def make(is_admin: bool = False) -> WebUser:
        email = f"{uuid.uuid4()}@example.com"
        with admin.begin() as conn:
            return WebUser(set_login(conn, email, PASSWORD, is_admin), email, PASSWORD)
    return make


class Browser(httpx.Client):
    """A client with its own cookie jar on the application's portal: one
    browser session."""

    def csrf(self, path: str) -> str:
        page = self.get(path)
        assert page.status_code == 200, page.text
        return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)

    def login(self, user: WebUser) -> httpx.Response:
        r = self.post("/login", data={"email": user.email, "password": user.password,
                                      "csrf_token": self.csrf("/login")})
        assert r.status_code == 303, r.text
        return r


@pytest.fixture
def browser(client):
    """browser(): a new, logged-out session."""
    sessions = []

    def make() -> Browser:
        b = Browser(transport=client._transport, base_url=BASE_URL, follow_redirects=False,
                    event_hooks={"response": [record_server_errors]})
        sessions.append(b)
        return b
    yield make
    for b in sessions:
        b.close()


def status_of(run, engine, token: str) -> str:
    """api_token_validate's verdict, through the application role."""
    async def validate():
        async with engine.begin() as conn:
            return (await conn.execute(text(
                "SELECT status FROM api_tokens.api_token_validate(CAST(:t AS text), CAST(NULL AS text[]))"),
                {"t": token})).scalar_one()
    return run(validate)
