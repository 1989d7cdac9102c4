"""Issue 8 item 14: a per-client rate limit on the authentication endpoints (429 with
Retry-After) and security headers on every answer."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx
import pytest

from tests.livestack import LiveServer
from tests.security.auth_fixtures import server

LIMITED = [
    ("POST", "/token/user", {"username": "nobody", "password": "Wrong-Pass-1!"}),
    ("POST", "/token/node", {"api_key": "not-a-key"}),
    ("POST", "/token/refresh", None),
    ("PATCH", "/password/change", {"current_password": "a", "new_password": "b"}),
    ("POST", "/recover/reset", {"reset_token": "x" * 20, "password": "Whatever-1!"}),
    ("POST", "/recover/2fa/reset", {"reset_token": "x" * 20}),
]


@pytest.fixture(scope="module")
def limited() -> LiveServer:
    with server("sqlite", V6_RATE_LIMIT_AUTH="5/minute") as live:
        yield live


@pytest.mark.parametrize("method,path,body", LIMITED, ids=[p for _, p, _ in LIMITED])
def test_auth_endpoints_are_rate_limited_per_client(
    limited: LiveServer, method: str, path: str, body
) -> None:
    client = f"192.0.2.{LIMITED.index((method, path, body)) + 1}"
    headers = {"X-Forwarded-For": client, "Authorization": "Bearer not.a.token"}

    def call(who: dict) -> httpx.Response:
        return httpx.request(method, limited.api_url + path, json=body, headers=who, timeout=30)

    answers = [call(headers) for _ in range(7)]
    codes = [r.status_code for r in answers]
    assert 429 not in codes[:5], codes
    assert codes[5:] == [429, 429], codes
    assert 1 <= int(answers[-1].headers["Retry-After"]) <= 60
    assert answers[-1].json()["msg"]
    # another client is not held back by this one
    other = {**headers, "X-Forwarded-For": "192.0.2.200"}
    assert call(other).status_code != 429


def test_other_endpoints_are_not_rate_limited(limited: LiveServer) -> None:
    codes = {
        httpx.get(limited.api_url + "/organization", timeout=30).status_code for _ in range(12)
    }
    assert codes == {401}


SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
}


@pytest.fixture(scope="module")
def plain() -> LiveServer:
    with server("sqlite") as live:
        yield live


def _check_headers(resp: httpx.Response) -> str:
    for name, value in SECURITY_HEADERS.items():
        assert resp.headers.get(name) == value, f"{resp.url}: {name}={resp.headers.get(name)}"
    assert resp.headers.get("referrer-policy") in ("no-referrer", "strict-origin-when-cross-origin")
    csp = resp.headers.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in csp, f"{resp.url}: {csp!r}"
    return csp


@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", "/api/version"),
        ("GET", "/api/organization"),
        ("POST", "/api/token/user"),
        ("GET", "/api/openapi.json"),
        ("GET", "/api/no/such/path"),
        ("GET", "/socket.io/?EIO=4&transport=polling"),
    ],
)
def test_security_headers_on_every_answer(plain: LiveServer, method: str, path: str) -> None:
    resp = httpx.request(method, plain.url + path, json={} if method == "POST" else None)
    csp = _check_headers(resp)
    assert "default-src 'self'" in csp or "default-src 'none'" in csp
    assert "unsafe-inline" not in csp and "*" not in csp.replace("'", "")


@pytest.mark.parametrize("path", ["/api/docs", "/api/redoc"])
def test_api_pages_still_render_under_their_csp(plain: LiveServer, path: str) -> None:
    """Every script and stylesheet the page loads comes from a source its CSP allows."""
    resp = httpx.get(plain.url + path)
    assert resp.status_code == 200
    csp = _check_headers(resp)
    directives = {part.split()[0]: part.split()[1:] for part in csp.split(";") if part.strip()}
    scripts = re.findall(r'<script[^>]+src="([^"]+)"', resp.text)
    links = re.findall(r"<link([^>]+)>", resp.text)
    styles = [re.search(r'href="([^"]+)"', x).group(1) for x in links if "stylesheet" in x]
    icons = [re.search(r'href="([^"]+)"', x).group(1) for x in links if "icon" in x]
    assert scripts, resp.text[:500]
    wanted = (
        [(u, "script-src") for u in scripts]
        + [(u, "style-src") for u in styles]
        + [(u, "img-src") for u in icons]
    )
    for url, directive in wanted:
        allowed = directives.get(directive) or directives.get("default-src", [])
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(url)) if "://" in url else "'self'"
        assert origin in allowed, f"{path}: {url} not allowed by {directive} {allowed}"
    if re.search(r"<script(?![^>]*src=)", resp.text):
        assert "'unsafe-inline'" in directives.get("script-src", []) or any(
            a.startswith("'sha256-") for a in directives.get("script-src", [])
        ), f"{path}: inline script blocked"
