"""The application: the JSON API (app/api.py), the pages (app/web.py) and
the secret-scanning endpoint (app/scanning.py).

Its settings come from the environment (app/settings.py, README.md
"Settings"); DATABASE_URL and SESSION_SECRET are required.  `app` is made
at import, for `uvicorn app.main:app`; create_app(settings) makes another
(the tests do, with other settings).
"""
import inspect
import logging
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator, Optional

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import api, scanning, web
from .db import create_engine_from_url
from .middleware import BodyLimit, SecurityHeaders, TrustedProxies
from .settings import Settings
from .throttle import LoginThrottle

log = logging.getLogger(__name__)

# No request body is larger: token requests and the pages' forms are a few
# hundred bytes, a pasted list of leaked tokens a few kilobytes.
MAX_BODY_BYTES = 64 * 1024

# Paths that answer JSON, errors included; every other path answers a page
# to a browser.
API_PREFIXES = ("/tokens", "/secret-scanning/", "/openapi.json", "/static/")

INTERNAL_ERROR_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Error · api_tokens example</title><link rel="stylesheet" href="/static/app.css"></head>
<body><main><section class="card narrow"><h1>Something went wrong</h1>
<p class="error" role="alert" id="error-message">The server could not answer this request. Try again later.</p>
<p><a href="/">Back to the start</a></p></section></main></body></html>"""


class Application(FastAPI):
    """FastAPI, with the security headers as the outermost layer: Starlette
    puts its ServerErrorMiddleware outside every middleware added, so that
    the 500s it writes would go out without them."""

    def build_middleware_stack(self):
        return SecurityHeaders(super().build_middleware_stack())


def _is_page(request: Request) -> bool:
    path = request.url.path
    if path == "/" or path.startswith(web.PAGE_PREFIXES):
        return True
    return not path.startswith(API_PREFIXES) and "text/html" in request.headers.get("accept", "")


def create_app(settings: Optional[Settings] = None) -> FastAPI:
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.engine = create_engine_from_url(settings.database_url)
        app.state.login_throttle = LoginThrottle.from_settings(settings)
        app.state.scanning_keys = scanning.keys_from_file(settings.secret_scanning_keys_file)
        try:
            yield
        finally:
            await app.state.engine.dispose()

    # docs_url=None: Swagger UI loads its script from a CDN, which the pages'
    # Content-Security-Policy forbids.  The schema is at /openapi.json.
    options = dict(title="api_tokens example", docs_url=None, redoc_url=None)
    if "lifespan" in inspect.signature(FastAPI.__init__).parameters:  # FastAPI 0.93 and later
        app = Application(lifespan=lifespan, **options)
    else:  # FastAPI 0.92 (Debian 12): Starlette's router takes it
        app = Application(**options)
        app.router.lifespan_context = lifespan
    app.state.settings = settings
    # No redirect from /path/ to /path: Starlette builds its URL from the
    # Host header, which anyone can set.  A trailing slash is a 404.
    app.router.redirect_slashes = False
    app.include_router(api.router)
    app.include_router(web.router)
    app.include_router(scanning.router)
    app.mount("/static", StaticFiles(directory=str(Path(__file__).parent / "static")), name="static")
    # Added first, so it runs last, after the proxies were dealt with:
    # nothing reads a body before it.
    app.add_middleware(BodyLimit, default=MAX_BODY_BYTES, per_path={scanning.PATH: scanning.MAX_BODY_BYTES})
    app.add_middleware(TrustedProxies, trusted=settings.trusted_proxies)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        """JSON for the API, the error page (with the navigation) for a
        browser."""
        if _is_page(request):
            await web.current_session(request)
            response = web.render(request, "error.html", exc.status_code, title="Error", message=str(exc.detail))
            response.headers.update(exc.headers or {})
            return response
        return await http_exception_handler(request, exc)

    @app.exception_handler(web.PageError)
    async def page_error(request: Request, exc: web.PageError):
        await web.current_session(request)
        return web.render(request, "error.html", exc.status_code, title="Error", message=exc.message)

    @app.exception_handler(web.LoginRequired)
    async def login_required(request: Request, exc: web.LoginRequired):
        return web.RedirectResponse("/login", status_code=303)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception):
        """A bug: logged, and answered without any detail (ServerErrorMiddleware
        calls this; the headers are added around it, see Application)."""
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        if _is_page(request):
            return HTMLResponse(INTERNAL_ERROR_PAGE, status_code=500)
        return JSONResponse({"detail": "internal error"}, status_code=500)

    return app


app = create_app()
