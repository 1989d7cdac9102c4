"""A thin HTTP helper for tests that talk to a live server as a given user or node."""

from __future__ import annotations

from typing import Any

import httpx


class Api:
    """Authenticated JSON calls to ``/api`` with httpx."""

    def __init__(self, api_url: str, token: str | None = None) -> None:
        self.api_url = api_url
        self.token = token
        self.http = httpx.Client(base_url=api_url, timeout=30)

    @classmethod
    def as_user(cls, api_url: str, username: str, password: str) -> Api:
        api = cls(api_url)
        resp = api.http.post("/token/user", json={"username": username, "password": password})
        resp.raise_for_status()
        api.token = resp.json()["access_token"]
        return api

    @classmethod
    def as_node(cls, api_url: str, api_key: str) -> Api:
        api = cls(api_url)
        resp = api.http.post("/token/node", json={"api_key": api_key})
        resp.raise_for_status()
        api.token = resp.json()["access_token"]
        return api

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.request(method, path, headers=self._headers(), **kwargs)

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("POST", path, **kw)

    def patch(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("PATCH", path, **kw)

    def delete(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("DELETE", path, **kw)

    def ok(self, method: str, path: str, **kw: Any) -> Any:
        """Call and insist on a 2xx; return the JSON body."""
        resp = self.request(method, path, **kw)
        assert resp.status_code < 300, f"{method} {path}: {resp.status_code} {resp.text}"
        return resp.json()


class RenewingApi(Api):
    """A user's session that logs in again when its access token has expired."""

    def __init__(self, api_url: str, username: str, password: str) -> None:
        super().__init__(api_url)
        self.username, self.password = username, password
        self.login()

    def login(self) -> None:
        self.token = Api.as_user(self.api_url, self.username, self.password).token

    def request(self, method: str, path: str, **kwargs):
        resp = super().request(method, path, **kwargs)
        if resp.status_code == 401:
            self.login()
            resp = super().request(method, path, **kwargs)
        return resp
