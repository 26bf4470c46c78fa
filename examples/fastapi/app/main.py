"""The application: the JSON API (app/api.py), the pages (app/web.py) and
the secret-scanning endpoint (app/scanning.py).

Environment:
  DATABASE_URL               postgresql+asyncpg://... of the application role
  SESSION_SECRET             signs the pages' session cookies (random per process if unset)
  SESSION_HTTPS_ONLY         "1": session cookies are sent over HTTPS only
  SECRET_SCANNING_KEYS_FILE  GitHub's secret-scanning public keys (app/scanning.py)
"""
import logging
import os
import secrets
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from . import api, scanning, web
from .db import create_engine_from_env
from .middleware import BodyLimit, SecurityHeaders

log = logging.getLogger(__name__)

# No request body is larger: token requests and the pages' forms are a few
# hundred bytes, a pasted list of leaked tokens a few kilobytes.
MAX_BODY_BYTES = 64 * 1024

# docs_url=None: Swagger UI loads its script from a CDN, which the pages'
# Content-Security-Policy forbids.  The schema is at /openapi.json.
app = FastAPI(title="api_tokens example", docs_url=None, redoc_url=None)
app.include_router(api.router)
app.include_router(web.router)
app.include_router(scanning.router)
app.mount("/static", StaticFiles(directory=str(Path(__file__).parent / "static")), name="static")

_secret = os.environ.get("SESSION_SECRET")
if not _secret:
    log.warning("SESSION_SECRET is not set: sessions end when the process does")
    _secret = secrets.token_urlsafe(32)
app.add_middleware(SessionMiddleware, secret_key=_secret, session_cookie="session",
                   max_age=web.SESSION_MAX_AGE, same_site="lax",
                   https_only=os.environ.get("SESSION_HTTPS_ONLY") == "1")
app.add_middleware(SecurityHeaders)
# Added last, so it runs first: nothing reads a body before it.
app.add_middleware(BodyLimit, default=MAX_BODY_BYTES, per_path={scanning.PATH: scanning.MAX_BODY_BYTES})


@app.on_event("startup")
async def startup() -> None:
    app.state.engine = create_engine_from_env()
    app.state.scanning_keys = scanning.keys_from_env()


@app.on_event("shutdown")
async def shutdown() -> None:
    await app.state.engine.dispose()


def _is_page(request: Request) -> bool:
    return request.url.path == "/" or request.url.path.startswith(web.PAGE_PREFIXES)


@app.exception_handler(StarletteHTTPException)
async def http_error(request: Request, exc: StarletteHTTPException):
    """JSON for the API, the error page for the pages."""
    if _is_page(request):
        return web.render(request, "error.html", exc.status_code, title="Error",
                          message=str(exc.detail), user=None)
    return await http_exception_handler(request, exc)


@app.exception_handler(web.PageError)
async def page_error(request: Request, exc: web.PageError):
    return web.render(request, "error.html", exc.status_code, title="Error", message=exc.message,
                      user=await web.current_user(request))


@app.exception_handler(web.LoginRequired)
async def login_required(request: Request, exc: web.LoginRequired):
    return web.RedirectResponse("/login", status_code=303)
