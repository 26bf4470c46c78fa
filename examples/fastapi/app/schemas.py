"""The JSON API's request and response bodies.

Strict types throughout: "name": 123 is not a name and
"expires_in_seconds": true is not a number of seconds (pydantic would
otherwise convert both).  Unknown fields are refused, so that a typo
("expires_in") is an error rather than a silently ignored request.

Pydantic 1.10, which FastAPI 0.92 (Debian 12) requires, written the way it
and pydantic 2 both read where they can: configuration as class keywords
(extra="forbid"), constraints with Field.
"""
from datetime import datetime
from typing import List, Optional
from uuid import UUID

from pydantic import BaseModel, Field, StrictStr, conint, validator

from .rules import MAX_LIFETIME_SECONDS, MAX_SCOPES, check_scope, clean_name, unique


class TokenCreate(BaseModel, extra="forbid"):
    name: StrictStr
    scopes: List[StrictStr] = Field(default_factory=list, max_items=MAX_SCOPES)
    # Omitted or null: the longest allowed, MAX_LIFETIME_SECONDS or the
    # calling token's remaining lifetime, whichever is shorter.
    expires_in_seconds: Optional[conint(strict=True, ge=1, le=MAX_LIFETIME_SECONDS)] = None

    _name = validator("name", allow_reuse=True)(clean_name)

    @validator("scopes", each_item=True)
    def _scope(cls, value: str) -> str:
        return check_scope(value)

    @validator("scopes")
    def _unique(cls, value: List[str]) -> List[str]:
        return unique(value)


class TokenCreated(BaseModel):
    id: UUID
    token: str  # the plaintext, shown this once and stored nowhere
    expires_at: Optional[datetime]


class TokenOut(BaseModel):
    id: UUID
    name: str
    prefix: str
    scopes: List[str]
    expires_at: Optional[datetime]
    last_used_at: Optional[datetime]
    is_active: bool
    created_at: datetime
    status: str  # active, expired, revoked or rotated (app/tokens.py, STATE)
    # For a rotated-out token: the token that replaced it, and when it
    # stopped working or, still in its grace period, will.  Else null.
    successor_id: Optional[UUID]
    grace_ends_at: Optional[datetime]
