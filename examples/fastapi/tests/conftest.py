"""Fixtures.  Needs a migrated database (alembic upgrade head) and two URLs:
ADMIN_DATABASE_URL, the owner, to set up users and first tokens as
app/bootstrap.py does; DATABASE_URL, the application role the API uses."""
import os
import uuid
from dataclasses import dataclass
from typing import Dict

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from app.bootstrap import issue_token
from app.main import app


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
    engine = create_engine(os.environ["ADMIN_DATABASE_URL"], future=True)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def client():
    with TestClient(app) as c:
        yield c


@pytest.fixture
def new_caller(admin):
    """new_caller(scopes=...): a new user with a bootstrap token."""
    def make(scopes=("tokens:read", "tokens:write")) -> Caller:
        with admin.begin() as conn:
            return Caller(*issue_token(conn, f"{uuid.uuid4()}@example.com", "test", scopes))
    return make
