"""The JSON API: personal access tokens for the caller, by bearer token.

No route declares a body parameter: FastAPI would read and parse the body
before running any dependency, authentication included.  Routes take the
Request instead and call read_json() once Security(authenticate) has
passed, so that an unauthenticated request is refused with 401 without its
body being parsed (and the body is never echoed back in an error).
"""
import json
import logging
import re
from typing import List, Optional, Type, TypeVar
from uuid import UUID

from fastapi import APIRouter, HTTPException, Query, Request, Response, Security, status
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from . import tokens
from .auth import Principal, authenticate
from .db import get_engine
from .rules import MAX_GRACE_SECONDS, MAX_LIFETIME_SECONDS
from .schemas import TokenCreate, TokenCreated, TokenOut
from .tokens import AlreadyRotated, Authority, Issued, database_errors

log = logging.getLogger(__name__)
router = APIRouter()

Model = TypeVar("Model", bound=BaseModel)


async def read_json(request: Request, model: Type[Model]) -> Model:
    """The body as a model: 415 if it is not declared JSON, 400 if it is not
    JSON at all, 422 with the failing fields (never their values) if it
    does not fit the model."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "send application/json")
    raw = await request.body()  # at most the request-size limit (app/middleware.py)
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):  # bad JSON or UTF-8, huge numbers, deep nesting
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "the body is not valid JSON") from None
    if not isinstance(data, dict):
        # pydantic 1 would make a dict of a list of pairs ([[null, null]]),
        # and fail on a key that is not a string.
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, [
            {"loc": ["body"], "msg": "the body must be a JSON object", "type": "type_error.dict"}])
    try:
        return model.parse_obj(data)
    except ValidationError as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, [
            {"loc": ["body", *map(_shown_loc, e["loc"])], "msg": e["msg"], "type": e["type"]}
            for e in error.errors()
        ]) from None


_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,49}\Z")


def _shown_loc(part: object) -> object:
    """A part of an error's location, as the answer may show it: list
    positions and field names; an unknown field's name only if it looks like
    one (a key of any other text, a lone surrogate say, is the client's
    input, not echoed)."""
    if isinstance(part, int) or (isinstance(part, str) and _FIELD_NAME.match(part)):
        return part
    return "(unknown field)"


def token_response(issued: Issued) -> JSONResponse:
    """201 with the plaintext token, which no cache may keep."""
    body = TokenCreated(id=issued.id, token=issued.token, expires_at=issued.expires_at)
    return JSONResponse(jsonable_encoder(body), status_code=status.HTTP_201_CREATED,
                        headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


def _openapi_body(model: Type[BaseModel]) -> dict:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": model.schema()}}}}


@router.post("/tokens", status_code=status.HTTP_201_CREATED, response_model=TokenCreated,
             openapi_extra=_openapi_body(TokenCreate))
async def create_token(
    request: Request,
    caller: Principal = Security(authenticate, scopes=["tokens:write"]),
):
    body = await read_json(request, TokenCreate)
    async with database_errors(), get_engine(request).begin() as conn:
        issued = await tokens.create(conn, Authority.of_token(caller), body.name, body.scopes,
                                     body.expires_in_seconds)
    log.info("token %s created by token %s for user %s", issued.id, caller.token_id, caller.user_id)
    return token_response(issued)


@router.get("/tokens", response_model=List[TokenOut])
async def list_tokens(
    request: Request,
    caller: Principal = Security(authenticate, scopes=["tokens:read"]),
):
    async with get_engine(request).begin() as conn:
        rows = await tokens.list_for_user(conn, caller.user_id)
    return [TokenOut(id=r.id, name=r.name, prefix=r.prefix, scopes=r.scopes or [],
                     expires_at=r.expires_at, last_used_at=r.last_used_at,
                     is_active=r.is_active, created_at=r.created_at, status=r.status,
                     successor_id=r.successor_id, grace_ends_at=r.grace_ends_at)
            for r in rows]


@router.delete("/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_token(
    token_id: UUID,
    request: Request,
    caller: Principal = Security(authenticate, scopes=["tokens:write"]),
):
    async with database_errors(), get_engine(request).begin() as conn:
        was_active = await tokens.revoke_own(conn, Authority.of_token(caller), token_id)
    if was_active:  # revoking again is harmless: still 204
        log.info("token %s revoked by token %s", token_id, caller.token_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/tokens/{token_id}/rotate", status_code=status.HTTP_201_CREATED, response_model=TokenCreated,
             responses={status.HTTP_409_CONFLICT: {"description": "the token is not active, or was already "
                                                   "rotated (then successor_id names its successor)"}})
async def rotate_token(
    token_id: UUID,
    request: Request,
    grace_seconds: int = Query(0, ge=0, le=MAX_GRACE_SECONDS,
                               description="how long the old token keeps working"),
    expires_in_seconds: Optional[int] = Query(
        None, ge=1, le=MAX_LIFETIME_SECONDS,
        description="the successor's lifetime, at most the calling token's; omitted: the old token's expiry"),
    caller: Principal = Security(authenticate, scopes=["tokens:write"]),
):
    try:
        async with database_errors(), get_engine(request).begin() as conn:
            rotated = await tokens.rotate(conn, Authority.of_token(caller), token_id, grace_seconds,
                                          expires_in_seconds)
    except AlreadyRotated as e:
        # The token is the caller's (ownership was checked first), and so is
        # its successor: naming it tells the caller nothing new.
        return JSONResponse({"detail": e.detail, "successor_id": str(e.successor_id)},
                            status_code=e.status_code)
    log.info("token %s rotated to %s by token %s", token_id, rotated.successor.id, caller.token_id)
    return token_response(rotated.successor)
