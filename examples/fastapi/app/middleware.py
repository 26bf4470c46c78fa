"""ASGI middleware: a request-size limit enforced before any body is read,
headers every response carries (500s included), and the proxies whose
forwarding headers are believed."""
import ipaddress
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from starlette.datastructures import MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .settings import Network


class _TooLarge(Exception):
    pass


class BodyLimit:
    """Refuses a request whose body is larger than its path's limit, with
    413, before the application reads it: at once from Content-Length when
    the client sends one, otherwise as soon as the chunks read add up to
    more.  Parsing (JSON, forms) therefore never sees more than the limit,
    whether or not the request is authenticated."""

    def __init__(self, app: ASGIApp, default: int, per_path: Optional[Dict[str, int]] = None) -> None:
        self.app = app
        self.default = default
        self.per_path = per_path or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.per_path.get(scope["path"], self.default)
        declared = _header(scope["headers"], b"content-length")
        if declared is not None:
            if not declared.isdigit():
                await _refuse(scope, receive, send, 400, "invalid Content-Length")
                return
            if int(declared) > limit:
                await _refuse(scope, receive, send, 413, f"request body larger than {limit} bytes")
                return

        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge()
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if started:
                raise
            await _refuse(scope, receive, send, 413, f"request body larger than {limit} bytes")


def _header(headers: Iterable[Tuple[bytes, bytes]], name: bytes) -> Optional[str]:
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1").strip()
    return None


async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, detail: str) -> None:
    # Connection: close, since the rest of the body is left unread.
    response = JSONResponse({"detail": detail}, status_code=status, headers={"Connection": "close"})
    await response(scope, receive, send)


# script-src 'self' only: the pages' JavaScript is a file (no inline script
# or handler), so an injected <script> would not run.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


class SecurityHeaders:
    """Adds the headers below to every response.  Cache-Control: no-store
    is the default for everything but static files: responses carry
    plaintext tokens (once), token lists and session pages, none of which a
    browser or proxy may keep."""

    def __init__(self, app: ASGIApp, static_prefix: str = "/static/") -> None:
        self.app = app
        self.static_prefix = static_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith(self.static_prefix)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                # same-origin, not no-referrer: with no-referrer, browsers send
                # "Origin: null" on POST, which the CSRF check must refuse.
                headers.setdefault("Referrer-Policy", "same-origin")
                headers.setdefault("X-Frame-Options", "DENY")
                headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
                if not static:
                    headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, send_with_headers)


class TrustedProxies:
    """Believes X-Forwarded-Proto and X-Forwarded-For from the peers listed
    in TRUSTED_PROXIES only (app/settings.py), and from nobody else.

    Behind a proxy that ends TLS, the application sees plain HTTP from the
    proxy's address.  For a request from a trusted peer, the scheme becomes
    the last value of X-Forwarded-Proto (http or https: what the proxy saw),
    so that the pages' CSRF check compares a browser's Origin
    (https://host) with the right origin; and the client becomes the last
    address of X-Forwarded-For that is not itself a trusted proxy (the
    earlier ones are whatever the client wrote), which login throttling
    counts.  The proxy must pass the original Host header on."""

    def __init__(self, app: ASGIApp, trusted: Sequence[Network]) -> None:
        self.app = app
        self.trusted = tuple(trusted)

    def _is_trusted(self, host: Optional[str]) -> bool:
        try:
            address = ipaddress.ip_address(host or "")
        except ValueError:
            return False
        return any(address in network for network in self.trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and self.trusted and \
                self._is_trusted((scope.get("client") or (None,))[0]):
            scope = dict(scope)
            proto = _last_value(scope["headers"], b"x-forwarded-proto")
            if proto in ("http", "https"):
                scope["scheme"] = proto if scope["type"] == "http" else {"http": "ws", "https": "wss"}[proto]
            forwarded = _all_values(scope["headers"], b"x-forwarded-for")
            for host in reversed(forwarded):
                if not self._is_trusted(host):
                    try:
                        ipaddress.ip_address(host)
                    except ValueError:
                        break  # not an address: keep the proxy's
                    scope["client"] = (host, 0)
                    break
        await self.app(scope, receive, send)


def _all_values(headers: Iterable[Tuple[bytes, bytes]], name: bytes) -> List[str]:
    values = []
    for key, value in headers:
        if key.lower() == name:
            values.extend(v.strip() for v in value.decode("latin-1").split(","))
    return values


def _last_value(headers: Iterable[Tuple[bytes, bytes]], name: bytes) -> Optional[str]:
    values = _all_values(headers, name)
    return values[-1].lower() if values else None
