"""Checks ``v6 node new`` makes against the server while it asks: where the server is, and
whether it accepts the node's API key (and then: the node's collaboration and whether that is
encrypted, as vantage6 4.14's wizard does)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from vantage6_client.transport import connection_reason
from vantage6_common.http import TokenAuth, TokenRefused, token_claims
from vantage6_common.related import related_id


@dataclass
class KeyCheck:
    """What the server said about an API key."""

    reachable: bool
    accepted: bool
    reason: str = ""
    node: str = ""
    organization: str = ""
    collaboration: str = ""
    encrypted: bool | None = None


def split_server_url(url: str) -> tuple[str, int | None, str | None]:
    """``http://host:5000/api`` -> ``("http://host", 5000, "/api")``; port and path are None
    when the URL has none (then they are asked)."""
    parts = urlsplit(url.strip())
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    base = f"{parts.scheme}://{host}" if parts.scheme and host else url.strip().rstrip("/")
    try:
        port = parts.port
    except ValueError:
        port = None
    path = parts.path.rstrip("/") or None
    return base, port, path


def url_problem(value: Any) -> str | None:
    """A wizard validator for the server URL."""
    text = str(value or "").strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http(s) URL such as http://127.0.0.1 or https://v6.example.org"
    try:
        parts.port  # noqa: B018 - raises for a port out of range
    except ValueError:
        return "the port in the URL must be 1-65535"
    return None


def check_api_key(api_url: str, api_key: str, timeout: float = 10.0) -> KeyCheck:
    """Log in as the node with ``api_key``; on success read its collaboration."""
    auth = TokenAuth(
        f"{api_url}/token/refresh",
        login_url=f"{api_url}/token/node",
        login_body={"api_key": api_key},
    )
    with httpx.Client(auth=auth, timeout=timeout) as client:
        try:
            token = auth.token(client) or ""
        except httpx.HTTPError as exc:
            reason = connection_reason(exc)
            return KeyCheck(False, False, f"cannot reach the server at {api_url}: {reason}")
        except TokenRefused as exc:
            if exc.status_code == 401:
                return KeyCheck(True, False, f"the server at {api_url} refused this API key")
            return KeyCheck(
                False,
                False,
                f"{api_url}/token/node answered HTTP {exc.status_code}: is this the server's "
                "URL and API path?",
            )
        except ValueError:
            return KeyCheck(
                False,
                False,
                f"{api_url}/token/node answered without a token: is this the server's URL and "
                "API path?",
            )
        try:
            node = client.get(f"{api_url}/node/{_node_id(token)}").json()
            collab_id = related_id(node.get("collaboration"))
            org_id = related_id(node.get("organization"))
            collab = client.get(f"{api_url}/collaboration/{collab_id}").json()
            org = client.get(f"{api_url}/organization/{org_id}").json()
        except (httpx.HTTPError, TokenRefused, ValueError, AttributeError) as exc:
            return KeyCheck(
                True, True, f"the key works, but the node's details are unknown ({exc})"
            )
    return KeyCheck(
        True,
        True,
        node=str(node.get("name") or ""),
        organization=str(org.get("name") or ""),
        collaboration=str(collab.get("name") or ""),
        encrypted=bool(collab.get("encrypted")),
    )


def _node_id(token: str) -> str | None:
    sub = token_claims(token).get("sub")
    if isinstance(sub, dict):
        sub = sub.get("id")
    return None if sub is None else str(sub)
