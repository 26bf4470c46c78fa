"""Property tests (Hypothesis): every route's fields, with any text (lone
surrogates, controls, NUL, other scripts), sent in every encoding a client
can choose (JSON with escapes, URL-encoded bytes that are not UTF-8,
multipart with any charset, unicode_escape included): the application never
answers 5xx (the autouse fixture no_server_errors fails the test on any),
always answers with text it could encode, and never shows back input it
refused."""
import base64
import json
import re
import secrets
import urllib.parse

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, given, settings, strategies as st

from app import scanning
from app.main import app

pytestmark = pytest.mark.filterwarnings("ignore")

# Any code point, surrogates included (Hypothesis leaves them out by default).
ANY_CHAR = st.characters(blacklist_categories=())
ANY_TEXT = st.text(ANY_CHAR, max_size=120)
CHARSETS = ["utf-8", "unicode_escape", "raw_unicode_escape", "utf-16", "latin-1", "utf-7", "cp1252",
            "no-such-charset"]
ENCODINGS = st.sampled_from(["urlencoded"] + [f"multipart:{c}" for c in CHARSETS])
EXAMPLES = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)


def unsafe(value: str) -> bool:
    """Text every route must refuse (and so never show back)."""
    return any(0xD800 <= ord(c) <= 0xDFFF or c == "\x00" for c in value)


def encode(fields, encoding):
    """(body, content type) of a form, fields being (name, value) pairs."""
    if encoding == "urlencoded":
        body = urllib.parse.urlencode(fields, encoding="utf-8", errors="surrogatepass").encode("ascii")
        return body, "application/x-www-form-urlencoded"
    charset = encoding.split(":", 1)[1]
    codec = charset if charset != "no-such-charset" else "utf-8"
    parts = []
    for name, value in fields:
        try:
            data = value.encode(codec, "surrogatepass")
        except (UnicodeEncodeError, LookupError):
            data = value.encode(codec, "replace") if codec not in ("utf-7",) else value.encode("utf-8", "surrogatepass")
        parts.append(b'--bnd\r\nContent-Disposition: form-data; name="' + name.encode() + b'"\r\n\r\n' + data + b"\r\n")
    return b"".join(parts) + b"--bnd--\r\n", f"multipart/form-data; boundary=bnd; charset={charset}"


def check(response, values=()):
    assert response.status_code < 500, response.text
    text = response.content.decode("utf-8")  # never anything the server could not encode
    if response.status_code >= 400:
        for value in values:
            if isinstance(value, str) and unsafe(value) and len(value) >= 4:
                assert value not in text


def post_form(b, path, fields, encoding, values=()):
    body, content_type = encode(fields, encoding)
    r = b.post(path, content=body, headers={"Content-Type": content_type})
    check(r, values)
    return r


def csrf_of(page):
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


@pytest.fixture
def signed_in(browser, new_web_user):
    b = browser()
    b.login(new_web_user(is_admin=True))
    return b


@given(email=ANY_TEXT, password=ANY_TEXT, encoding=ENCODINGS)
@EXAMPLES
def test_property_login(browser, email, password, encoding):
    b = browser()
    csrf = b.csrf("/login")
    r = post_form(b, "/login", [("email", email), ("password", password), ("csrf_token", csrf)], encoding,
                  [email, password])
    assert r.status_code in (400, 401, 403, 429), r.text


@given(name=ANY_TEXT, scopes=st.lists(st.one_of(ANY_TEXT, st.sampled_from(["tokens:read", "tokens:write"])),
                                      max_size=3),
       days=st.one_of(ANY_TEXT, st.sampled_from(["7", "30", "365"])), encoding=ENCODINGS)
@EXAMPLES
def test_property_create_on_the_page(signed_in, name, scopes, days, encoding):
    csrf = csrf_of(signed_in.get("/settings/tokens"))
    fields = [("csrf_token", csrf), ("nonce", secrets.token_urlsafe(16)), ("name", name), ("expires_days", days)]
    fields += [("scopes", s) for s in scopes]
    post_form(signed_in, "/settings/tokens", fields, encoding, [name, days, *scopes])


@given(token_id=ANY_TEXT, grace=ANY_TEXT, days=ANY_TEXT, action=st.sampled_from(["rotate", "revoke"]),
       encoding=ENCODINGS)
@EXAMPLES
def test_property_rotate_and_revoke_on_the_page(signed_in, token_id, grace, days, action, encoding):
    csrf = csrf_of(signed_in.get("/settings/tokens"))
    path = "/settings/tokens/" + urllib.parse.quote(token_id, safe="", errors="surrogatepass") + "/" + action
    post_form(signed_in, path, [("csrf_token", csrf), ("nonce", secrets.token_urlsafe(16)),
                                ("grace_seconds", grace), ("expires_days", days)], encoding, [grace, days])


@given(prefix=ANY_TEXT, user=ANY_TEXT, page=ANY_TEXT, encoding=ENCODINGS)
@EXAMPLES
def test_property_admin_search(signed_in, prefix, user, page, encoding):
    csrf = csrf_of(signed_in.get("/admin/tokens"))
    post_form(signed_in, "/admin/search", [("csrf_token", csrf), ("prefix", prefix), ("user", user)], encoding,
              [prefix, user])
    query = urllib.parse.urlencode({"prefix": prefix, "user": user, "page": page}, errors="surrogatepass")
    check(signed_in.get(f"/admin/tokens?{query}"), [prefix, user, page])


@given(pasted=ANY_TEXT, target=ANY_TEXT, action=st.sampled_from(
    ["/admin/leaked", "/admin/tokens/{}/revoke", "/admin/tokens/{}/revoke-family", "/admin/users/{}/revoke",
     "/admin/users/{}/end-sessions"]), encoding=ENCODINGS)
@EXAMPLES
def test_property_admin_actions(browser, new_web_user, pasted, target, action, encoding):
    b = browser()
    b.login(new_web_user(is_admin=True))
    csrf = csrf_of(b.get("/admin/tokens"))
    path = action.format(urllib.parse.quote(target, safe="", errors="surrogatepass"))
    post_form(b, path, [("csrf_token", csrf), ("tokens", pasted), ("user", target)], encoding, [pasted, target])


NUMBERS = st.one_of(ANY_TEXT, st.integers(-10, 10 ** 20).map(str))
PERIODS = st.one_of(ANY_TEXT, st.sampled_from(["", "1", "60", "3600", "86400", "604800"]))
NETWORKS = st.one_of(st.ip_addresses().map(str), st.tuples(st.ip_addresses(), st.integers(0, 129)).map(
    lambda a: f"{a[0]}/{a[1]}"), ANY_TEXT)


@pytest.fixture
def limited_token(new_caller):
    return new_caller()


@given(limit=st.one_of(ANY_TEXT, st.sampled_from(["rate", "credits", "addresses"])),
       action=st.one_of(ANY_TEXT, st.sampled_from(["set", "remove"])), number=NUMBERS, refill=NUMBERS,
       period=PERIODS, addresses=st.lists(NETWORKS, max_size=4).map(", ".join), encoding=ENCODINGS)
@EXAMPLES
def test_property_admin_limits(signed_in, limited_token, limit, action, number, refill, period, addresses,
                               encoding):
    path = f"/admin/tokens/{limited_token.token_id}/limits"
    csrf = csrf_of(signed_in.get(path))
    r = post_form(signed_in, path, [
        ("csrf_token", csrf), ("limit", limit), ("action", action), ("max_requests", number), ("per", period),
        ("remaining", number), ("refill", refill), ("refill_every", period), ("addresses", addresses)],
        encoding, [limit, action, number, refill, period, addresses])
    assert r.status_code in (303, 400, 403, 422), r.text  # 403: a charset that garbles the CSRF token


JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), ANY_TEXT),
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(ANY_TEXT, children, max_size=4)),
    max_leaves=12)
TOKEN_BODIES = st.one_of(JSON_VALUES, st.fixed_dictionaries({}, optional={
    "name": JSON_VALUES, "scopes": JSON_VALUES, "expires_in_seconds": JSON_VALUES}), st.dictionaries(
    st.one_of(ANY_TEXT, st.sampled_from(["name", "scopes", "expires_in_seconds"])), JSON_VALUES, max_size=4))


@given(body=TOKEN_BODIES, content_type=st.sampled_from(["application/json", "application/json; charset=utf-16",
                                                        "application/vnd.x+json", "text/plain"]))
@EXAMPLES
def test_property_json_api(client, new_caller, body, content_type):
    caller = new_caller()
    r = client.post("/tokens", content=json.dumps(body, ensure_ascii=True).encode(),
                    headers={**caller.headers, "Content-Type": content_type})
    check(r)


@given(token_id=ANY_TEXT, grace=ANY_TEXT, expires=ANY_TEXT, authorization=st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=80))
@EXAMPLES
def test_property_api_paths_queries_and_headers(client, new_caller, token_id, grace, expires, authorization):
    caller = new_caller()
    quoted = urllib.parse.quote(token_id, safe="", errors="surrogatepass")
    query = urllib.parse.urlencode({"grace_seconds": grace, "expires_in_seconds": expires}, errors="surrogatepass")
    check(client.post(f"/tokens/{quoted}/rotate?{query}", headers=caller.headers), [grace, expires])
    check(client.delete(f"/tokens/{quoted}", headers=caller.headers))
    check(client.get("/tokens", headers={"Authorization": authorization.encode("latin-1")}))


KEY = ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def scanning_key():
    app.dependency_overrides[scanning.public_keys] = lambda: {"k": KEY.public_key()}
    yield
    del app.dependency_overrides[scanning.public_keys]


@given(report=st.one_of(JSON_VALUES, st.lists(st.fixed_dictionaries({}, optional={
    "token": JSON_VALUES, "type": JSON_VALUES, "url": JSON_VALUES, "source": JSON_VALUES}), max_size=5)))
@EXAMPLES
def test_property_secret_scanning(client, scanning_key, report):
    body = json.dumps(report, ensure_ascii=True).encode()
    signature = base64.b64encode(KEY.sign(body, ec.ECDSA(hashes.SHA256()))).decode()
    r = client.post(scanning.PATH, content=body, headers={
        "Content-Type": "application/json", scanning.KEY_ID_HEADER: "k", scanning.SIGNATURE_HEADER: signature})
    check(r)
    assert r.status_code in (200, 400), r.text
