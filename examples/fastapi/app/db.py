import os
from functools import lru_cache

from sqlalchemy import create_engine
from sqlalchemy.orm import Session


@lru_cache
def get_engine():
    # DATABASE_URL names the least-privileged application role (README.md).
    return create_engine(os.environ["DATABASE_URL"], future=True, pool_pre_ping=True)


def get_session():
    """One session per request.  Writes commit explicitly before the response
    is built: code after this yield runs only once the response is sent."""
    with Session(get_engine(), future=True) as session:
        yield session
