"""The node proxy: the only thing an algorithm container can talk to.

Each run gets its own unix socket (``<socket dir>/proxy.sock``), reached from inside the
container through the forwarder at ``http://127.0.0.1:<port>``. Because the socket identifies
the run, the proxy knows who is calling without trusting anything the container says: the
container must present the token it was given (checked), and the proxy then talks to the
server with the run's current container token (renewed when the server has forgotten it, e.g.
after a server restart).

Only requests a container may make are forwarded (see :data:`ALLOWED`). On ``POST /task`` each
organization's input is encrypted for that organization, in the format the collaboration
declares (``encryption_scheme``; see :mod:`vantage6_node.encryption`); on ``GET /result`` and
``GET /run`` results are decrypted for the container (it receives base64 of the plaintext, as
with vantage6), and a result in a format the collaboration refuses is an error, never data.
Large inputs and results stream through ``/blobstream`` (see
:mod:`vantage6_node.proxy.blobstream`). ``GET /task/{id}/status`` of an unfinished task is
held until a status change is announced (or a few seconds pass) so that waiting algorithms
learn of results at once.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hmac
import logging
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from vantage6_common.retry import aretrying
from vantage6_common.scheme_policy import DowngradeRefused
from vantage6_common.status import UNFINISHED_STATUSES
from vantage6_node.blobs import blob_id
from vantage6_node.config import ProxyConfig
from vantage6_node.org_keys import MissingPublicKey, OrgKeys
from vantage6_node.proxy.blobstream import BlobStreams
from vantage6_node.server_api import Response, ServerAPI, ServerError, ServerUnavailable

log = logging.getLogger(__name__)

#: (method, path) a container may use; everything else is refused with 403
ALLOWED: list[tuple[str, re.Pattern[str]]] = [
    (method, re.compile(rf"^{pattern}$"))
    for method, pattern in [
        ("GET", r"/task"),
        ("GET", r"/task/\d+"),
        ("GET", r"/task/\d+/status"),
        ("POST", r"/task"),
        ("GET", r"/run"),
        ("GET", r"/run/\d+"),
        ("GET", r"/result"),
        ("GET", r"/result/\d+"),
        ("GET", r"/organization"),
        ("GET", r"/organization/\d+"),
        ("GET", r"/collaboration"),
        ("GET", r"/collaboration/\d+"),
        ("GET", r"/study"),
        ("GET", r"/study/\d+"),
        ("GET", r"/node"),
        ("GET", r"/node/\d+"),
        ("GET", r"/port"),
        ("GET", r"/vpn/algorithm/addresses"),
        ("GET", r"/blobstream/status"),
        ("GET", r"/blobstream/[^/]+"),
        ("POST", r"/blobstream"),
        ("GET", r"/health"),
        ("GET", r"/version"),
    ]
]
NO_TOKEN_NEEDED = {"/health", "/version"}
PASSED_HEADERS = ("total-count", "link")
MAX_BODY = 256 * 1024 * 1024


def allowed(method: str, path: str) -> bool:
    return any(m == method and p.match(path) for m, p in ALLOWED)


def normalise_path(path: str) -> str:
    path = "/" + path.lstrip("/")
    if path == "/api" or path.startswith("/api/"):
        path = path[4:] or "/"
    return path.rstrip("/") or "/"


@dataclass
class RunContext:
    """What the proxy knows about the run behind one socket."""

    run_id: int
    task_id: int
    image: str
    collaboration_id: int | None
    token: str  # the token the container holds
    upstream_token: str = ""  # the token used towards the server
    requests: int = 0

    def __post_init__(self) -> None:
        if not self.upstream_token:
            self.upstream_token = self.token


class StatusBoard:
    """Wakes proxy requests waiting for task status changes."""

    def __init__(self) -> None:
        self._changed = asyncio.Event()
        self.version = 0

    def bump(self) -> None:
        self.version += 1
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait(self, timeout: float) -> None:
        event = self._changed
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(event.wait(), timeout=timeout)


@dataclass
class _Site:
    context: RunContext
    site: web.UnixSite
    path: str
    extra: list[Any] = field(default_factory=list)


class NodeProxy:
    def __init__(
        self,
        api: ServerAPI,
        org_keys: OrgKeys,
        config: ProxyConfig,
        board: StatusBoard | None = None,
    ) -> None:
        self.api = api
        self.org_keys = org_keys
        self.encryption = org_keys.encryption
        self.config = config
        self.board = board or StatusBoard()
        self.blobs = BlobStreams(api, org_keys.encryption)
        self._sites: dict[str, _Site] = {}
        self._by_run: dict[int, str] = {}
        self._runner: web.AppRunner | None = None

    # lifecycle ---------------------------------------------------------------------------------
    async def start(self) -> None:
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()

    async def close(self) -> None:
        for run_id in list(self._by_run):
            await self.stop_run(run_id)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def serve_run(self, context: RunContext, socket_path: Path) -> None:
        """Listen for one run's container on ``socket_path``."""
        assert self._runner is not None, "proxy not started"
        await self.stop_run(context.run_id)
        path = str(socket_path)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        site = web.UnixSite(self._runner, path)
        await site.start()
        os.chmod(path, 0o600)
        self._sites[path] = _Site(context, site, path)
        self._by_run[context.run_id] = path

    def context(self, run_id: int) -> RunContext | None:
        path = self._by_run.get(run_id)
        return self._sites[path].context if path else None

    async def stop_run(self, run_id: int) -> None:
        path = self._by_run.pop(run_id, None)
        if path is None:
            return
        entry = self._sites.pop(path, None)
        if entry is not None:
            with contextlib.suppress(Exception):
                await entry.site.stop()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)

    # request handling --------------------------------------------------------------------------
    def _context_of(self, request: web.Request) -> RunContext | None:
        transport = request.transport
        sockname = transport.get_extra_info("sockname") if transport else None
        if isinstance(sockname, bytes):
            sockname = sockname.decode()
        entry = self._sites.get(sockname) if isinstance(sockname, str) else None
        return entry.context if entry else None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        ctx = self._context_of(request)
        if ctx is None:
            return _error(403, "this socket does not belong to a run")
        path = normalise_path(request.path)
        method = request.method.upper()
        if path not in NO_TOKEN_NEEDED:
            header = request.headers.get("Authorization", "")
            presented = header[7:].strip() if header[:7].lower() == "bearer " else ""
            if not presented or not hmac.compare_digest(presented, ctx.token):
                return _error(401, "missing or wrong container token")
        if not allowed(method, path):
            log.info("run %s: refused %s %s", ctx.run_id, method, path)
            return _error(403, f"the node proxy does not forward {method} {path}")
        ctx.requests += 1
        try:
            if method == "POST" and path == "/task":
                return await self._create_task(request, ctx)
            if path.startswith("/blobstream") and path != "/blobstream/status":
                return await self._blobstream(request, ctx, method, path)
            if method == "GET" and re.match(r"^/task/\d+/status$", path):
                return await self._task_status(request, ctx, path)
            resp = await self._forward(ctx, method, path, params=list(request.query.items()))
            if method == "GET" and (path.startswith("/result") or path.startswith("/run")):
                resp.data = await self._decrypt_results(resp.data)
            return _reply(resp)
        except DowngradeRefused as exc:
            log.warning("run %s: %s", ctx.run_id, exc)
            return _error(502, f"a result from the server was refused: {exc}")
        except ServerUnavailable as exc:
            return _error(503, f"the server is unreachable: {exc}")
        except ServerError as exc:
            return _error(exc.status, exc.msg)
        except Exception as exc:  # noqa: BLE001 - answer the container, log for the operator
            log.exception("run %s: proxy error on %s %s", ctx.run_id, method, path)
            return _error(500, f"node proxy error: {exc.__class__.__name__}")

    async def _forward(
        self,
        ctx: RunContext,
        method: str,
        path: str,
        *,
        params: list[tuple[str, str]] | None = None,
        json: Any = None,
    ) -> Response:
        """Send to the server as the run's container; retry while the server is away."""
        renewed = False
        while True:
            retrier = aretrying(
                ServerUnavailable,
                within=self.config.server_retry_seconds,
                initial=0.2,
                cap=5.0,
                stop_event=self.api.stopping,
            )
            async for attempt in retrier:
                with attempt:
                    resp = await self.api.raw(
                        method, path, params=params, json=json, token=ctx.upstream_token, timeout=60
                    )
            if resp.status == 401 and not renewed:
                renewed = True
                await self._renew_token(ctx)
                continue
            return resp

    async def _renew_token(self, ctx: RunContext) -> None:
        try:
            ctx.upstream_token = await self.api.container_token(
                ctx.task_id, ctx.image, retry_for=self.config.server_retry_seconds
            )
            log.info("run %s: container token renewed", ctx.run_id)
        except (ServerError, ServerUnavailable) as exc:
            log.warning("run %s: could not renew the container token: %s", ctx.run_id, exc)

    async def _blobstream(
        self, request: web.Request, ctx: RunContext, method: str, path: str
    ) -> web.StreamResponse:
        """Streamed, so never replayed: a refused token is renewed for the next request."""
        if method == "POST":
            resp = await self.blobs.upload(request, ctx.upstream_token)
        else:
            resp = await self.blobs.download(
                request, path.removeprefix("/blobstream/"), ctx.upstream_token
            )
        if resp.status == 401:
            await self._renew_token(ctx)
        return resp

    async def _task_status(self, request: web.Request, ctx: RunContext, path: str) -> web.Response:
        hold_until = time.monotonic() + self.config.status_hold_seconds
        while True:
            version = self.board.version
            resp = await self._forward(ctx, "GET", path, params=list(request.query.items()))
            status = resp.data.get("status") if isinstance(resp.data, dict) else None
            remaining = hold_until - time.monotonic()
            if not resp.ok or status not in UNFINISHED_STATUSES or remaining <= 0:
                return _reply(resp)
            if self.board.version == version:
                # wait for news, but look again now and then in case an event was missed
                await self.board.wait(min(remaining, 1.0))

    async def _create_task(self, request: web.Request, ctx: RunContext) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "the request body is not JSON")
        if not isinstance(body, dict):
            return _error(400, "the request body must be a JSON object")
        organizations = body.get("organizations")
        if not isinstance(organizations, list) or not organizations:
            return _error(400, "organizations missing from the task")
        if body.get("image", ctx.image) != ctx.image:
            return _error(403, "a subtask must use the image of its parent task")
        collab = body.get("collaboration_id")
        if ctx.collaboration_id is not None and collab not in (None, ctx.collaboration_id):
            return _error(403, "a subtask must stay in the collaboration of its parent task")
        body["image"] = ctx.image
        if not self.encryption.encrypted:
            return _reply(await self._forward(ctx, "POST", "/task", json=body))
        plain: dict[int, bytes] = {}
        for org in organizations:
            if not isinstance(org, dict) or "id" not in org:
                return _error(400, "every organization needs an id")
            raw = org.get("input") or ""
            if _is_blob_reference(raw):
                continue  # uploaded through POST /blobstream, encrypted on the way there
            try:
                plain[int(org["id"])] = base64.b64decode(raw, validate=True) if raw else b""
            except (binascii.Error, ValueError):
                return _error(400, f"input for organization {org['id']} is not base64")
        retry_for = self.config.server_retry_seconds
        for org in organizations:
            org_id = int(org["id"])
            if org_id not in plain:
                continue
            try:
                org["input"] = await self.org_keys.encrypt_for(
                    org_id, plain[org_id], retry_for=retry_for
                )
            except MissingPublicKey as exc:
                return _error(400, str(exc))
        return _reply(await self._forward(ctx, "POST", "/task", json=body))

    async def _decrypt_results(self, data: Any) -> Any:
        if not self.encryption.encrypted:
            return data
        items = data.get("data") if isinstance(data, dict) and "data" in data else None
        targets = items if isinstance(items, list) else [data]
        for item in targets:
            if not isinstance(item, dict):
                continue
            value = item.get("result")
            if not isinstance(value, str) or not value or item.get("blob_storage_used"):
                continue
            try:
                plain = await asyncio.to_thread(self.encryption.decrypt_result, value)
            except DowngradeRefused:
                raise
            except Exception as exc:  # noqa: BLE001 - pass it on undecrypted, as vantage6 does
                log.info("could not decrypt the result of run %s: %s", item.get("id"), exc)
                continue
            item["result"] = base64.b64encode(plain).decode("ascii")
        return data


def _is_blob_reference(value: Any) -> bool:
    """A subtask input that is a blob id (dashes are not base64, so never an inline input)."""
    if not isinstance(value, str) or "-" not in value:
        return False
    try:
        blob_id(value)
    except ValueError:
        return False
    return True


def _error(status: int, msg: str) -> web.Response:
    return web.json_response({"msg": msg}, status=status)


def _reply(resp: Response) -> web.Response:
    headers = {k: v for k, v in resp.headers.items() if k.lower() in PASSED_HEADERS}
    if isinstance(resp.data, dict | list):
        return web.json_response(resp.data, status=resp.status, headers=headers)
    if resp.data is None:
        return web.Response(status=resp.status, headers=headers)
    return web.Response(text=str(resp.data), status=resp.status, headers=headers)
