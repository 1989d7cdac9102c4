"""Calls to an algorithm store as a user of a vantage6 server.

The store knows no passwords: every call carries the user's *server* token and the server's
API address in a ``server_url`` header; the store checks the token with that server (see
``docs/design/wire-facts-store.md``). Which store: ``--store-url`` (or ``V6_STORE_URL``), the
server's coupled store ``--store ID``, or the only store coupled to the user's collaborations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from vantage6_cli.errors import CONNECTION, NOT_FOUND, SERVER, USAGE, CliError


def store_api_url(url: str) -> str:
    """The store's API address: a coupled store's address plus ``/api`` (as the vantage6
    client does), an address that already ends in ``/api`` as given."""
    url = url.strip().rstrip("/")
    return url if url.endswith("/api") else f"{url}/api"


@dataclass
class StoreSession:
    """One store, called with one server login."""

    api_url: str
    client: Any  # a logged-in vantage6_client.Client
    store_id: int | None = None  # the server's id of the coupling, when known

    def request(
        self,
        method: str,
        path: str,
        json: Any = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        """The answer's JSON; an error answer or no answer becomes a one-line CliError."""
        headers = {
            "Authorization": f"Bearer {self.client.transport.current_token()}",
            "server_url": self.client.base_path,
        }
        query = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = httpx.request(
                method,
                f"{self.api_url}/{path.lstrip('/')}",
                headers=headers,
                json=json,
                params=query,
                timeout=30,
            )
        except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
            raise CliError(
                f"the store at {self.api_url} cannot be reached: {exc}", CONNECTION
            ) from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code >= 400:
            message = body.get("msg") if isinstance(body, dict) else None
            if not message:
                message = response.text[:300] or response.reason_phrase
            detail = body.get("errors") if isinstance(body, dict) else None
            message = f"{message} ({detail})" if detail else message
            code = NOT_FOUND if response.status_code == 404 else SERVER
            raise CliError(f"the store refused: {message}", code)
        return body

    def all(self, path: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Every item of a paged list."""
        items: list[dict[str, Any]] = []
        page = 1
        while True:
            body = self.request("GET", path, params={**(params or {}), "page": page})
            data = body.get("data", []) if isinstance(body, dict) else []
            items += data
            if not data or not _has_next(body):
                return items
            page += 1


def _has_next(body: Any) -> bool:
    links = body.get("links") if isinstance(body, dict) else None
    return bool(isinstance(links, dict) and links.get("next"))


def coupled_stores(client: Any, collaboration: int | None = None) -> list[dict[str, Any]]:
    """The stores the server couples to ``collaboration`` (or to any collaboration the user
    sees), each ``{id, name, url, collaboration_id}``."""
    params = {"collaboration_id": collaboration} if collaboration is not None else None
    return list(client.transport.get_all("algorithmstore", params, None).data)


def open_store(
    client: Any,
    store_url: str | None,
    store_id: int | None,
    collaboration: int | None = None,
) -> StoreSession:
    """The store a command is about (see the module's docstring)."""
    if store_url and store_id is not None:
        raise CliError("give --store-url or --store, not both", USAGE)
    if store_url:
        return StoreSession(store_api_url(store_url), client)
    if store_id is not None:
        found = client.transport.request("GET", f"algorithmstore/{int(store_id)}")
        return StoreSession(store_api_url(found["url"]), client, int(found["id"]))
    stores = {s["url"]: s for s in coupled_stores(client, collaboration)}
    if len(stores) == 1:
        only = next(iter(stores.values()))
        return StoreSession(store_api_url(only["url"]), client, int(only["id"]))
    if not stores:
        raise CliError(
            "no algorithm store is coupled to your collaborations: pass --store-url URL", USAGE
        )
    listed = ", ".join(f"{s['id']} ({s['url']})" for s in stores.values())
    raise CliError(f"several stores are coupled: pass --store ID (one of {listed})", USAGE)
