"""Every REST path of vantage6 4.x (the wire-facts table) is served, with its methods."""

from __future__ import annotations

import httpx

from tests.livestack import LiveServer

FACTS_PATHS = {
    "/token/user": {"post"},
    "/token/node": {"post"},
    "/token/container": {"post"},
    "/token/refresh": {"post"},
    "/token/user/validate": {"post"},
    "/recover/lost": {"post"},
    "/recover/reset": {"post"},
    "/recover/2fa/lost": {"post"},
    "/recover/2fa/reset": {"post"},
    "/password/change": {"patch"},
    "/recover/node": {"post"},
    "/organization": {"get", "post"},
    "/organization/{id}": {"get", "patch", "delete"},
    "/collaboration": {"get", "post"},
    "/collaboration/{id}": {"get", "patch", "delete"},
    "/collaboration/{id}/organization": {"post", "delete"},
    "/collaboration/{id}/node": {"post", "delete"},
    "/node": {"get", "post"},
    "/node/{id}": {"get", "patch", "delete"},
    "/user": {"get", "post"},
    "/user/{id}": {"get", "patch", "delete"},
    "/role": {"get", "post"},
    "/role/{id}": {"get", "patch", "delete"},
    "/role/{id}/rule/{rule_id}": {"post", "delete"},
    "/rule": {"get"},
    "/rule/{id}": {"get"},
    "/study": {"get", "post"},
    "/study/{id}": {"get", "patch", "delete"},
    "/study/{id}/organization": {"post", "delete"},
    "/task": {"get", "post"},
    "/task/{id}": {"get", "delete"},
    "/task/{id}/status": {"get"},
    "/run": {"get"},
    "/run/{id}": {"get", "patch"},
    "/result": {"get"},
    "/result/{id}": {"get"},
    "/kill/task": {"post"},
    "/kill/node/tasks": {"post"},
    "/port": {"post", "delete"},
    "/vpn/algorithm/addresses": {"get"},
    "/algorithmstore": {"get", "post"},
    "/algorithmstore/{id}": {"get", "patch", "delete"},
    "/blobstream": {"post"},
    "/blobstream/status": {"get"},
    "/column": {"post"},
    "/health": {"get"},
    "/version": {"get"},
}


def test_every_facts_path_is_served(live_server: LiveServer) -> None:
    spec = httpx.get(live_server.api_url + "/openapi.json").json()
    served = {path.removeprefix("/api"): set(ops) for path, ops in spec["paths"].items()}
    missing = {
        p: m - served.get(p, set()) for p, m in FACTS_PATHS.items() if m - served.get(p, set())
    }
    assert not missing
    assert any(p.startswith("/blobstream/{") for p in served)
    assert httpx.get(live_server.api_url + "/docs").status_code == 200
    assert httpx.get(live_server.api_url + "/blobstream/status").json() == {
        "blob_store_enabled": False
    }
