"""Client an algorithm container uses to talk to the server through its node's proxy.

The container never reaches the server itself: ``HOST:PORT`` + ``API_PATH`` is the node proxy,
which forwards each call with the container token. Inputs and results cross the proxy in
*unencrypted* wire form, base64 of the JSON bytes; the proxy encrypts each organization's input
for that organization (``POST /task``) and decrypts results for us (``GET /result``, ``/run``).

When the server keeps inputs and results as blobs (``GET /blobstream/status``), a subtask's
input is uploaded per organization to the proxy's ``POST /blobstream`` as plain JSON bytes
with ``X-Public-Key`` (the proxy encrypts it for that organization) and the task refers to the
blob; results of runs with ``blob_storage_used`` are read from ``GET /blobstream/<uuid>``
(the proxy decrypts them).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from vantage6_algorithm.util import container_identity, info
from vantage6_common.retry import retrying
from vantage6_common.serialization import (
    b64_to_bytes,
    decode_payload,
    dumps_bytes,
    encode_payload,
    loads,
)
from vantage6_common.status import FAILED_STATUSES, UNFINISHED_STATUSES

__all__ = ["AlgorithmClient", "AlgorithmClientError"]

DEFAULT_TIMEOUT = 300.0
MAX_POLL_INTERVAL = 10.0
POLL_INTERVAL_GROWTH = 1.5
#: problems reaching the proxy that are worth another try
RETRIED = (httpx.ConnectError, httpx.TimeoutException)
#: size of the pieces a blob is uploaded in (vantage6 4.14 uses 1 MiB)
BLOB_CHUNK_SIZE = 1024 * 1024
OCTET_STREAM = "application/octet-stream"


class AlgorithmClientError(RuntimeError):
    """A request to the node proxy failed."""

    def __init__(self, message: str, status_code: int | None = None, endpoint: str = "") -> None:
        super().__init__(message)
        self.status_code = status_code
        self.endpoint = endpoint


class AlgorithmClient:
    """Talk to the vantage6 server from inside an algorithm container.

    Parameters
    ----------
    token:
        The container token (contents of ``TOKEN_FILE``).
    host, port, path:
        Where the node proxy is, e.g. ``http://proxy``, ``8080``, ``""``; ``host`` without a
        scheme gets ``http://``.
    timeout:
        Seconds per HTTP request.
    connection_attempts:
        How often a request is tried when the proxy cannot be reached.
    """

    def __init__(
        self,
        token: str,
        host: str,
        port: int | str | None = None,
        path: str = "/api",
        *,
        timeout: float = DEFAULT_TIMEOUT,
        connection_attempts: int = 10,
        http_client: httpx.Client | None = None,
    ) -> None:
        self._access_token = token.strip()
        if "://" not in host:
            host = f"http://{host}"
        self._host = host.rstrip("/")
        self._port = str(port) if port not in (None, "") else None
        self._api_path = "" if not path or path == "/" else "/" + path.strip("/")
        self.timeout = timeout
        self.connection_attempts = max(1, int(connection_attempts))
        self._http = http_client or httpx.Client(timeout=timeout)

        identity = container_identity(self._access_token)
        self.identity: dict[str, Any] = identity
        self.image: str | None = identity.get("image")
        self.databases: list = identity.get("databases") or []
        self.node_id: int | None = identity.get("node_id")
        self.organization_id: int | None = identity.get("organization_id")
        self.collaboration_id: int | None = identity.get("collaboration_id")
        self.study_id: int | None = identity.get("study_id")
        self.store_id: int | None = identity.get("store_id")
        #: The task this container runs for (the parent of tasks it creates).
        self.task_id: int | None = identity.get("task_id")

        self.task = self.Task(self)
        self.result = self.Result(self)
        self.run = self.Run(self)
        self.organization = self.Organization(self)
        self.collaboration = self.Collaboration(self)
        self.node = self.Node(self)
        self.study = self.Study(self)
        self.vpn = self.VPN(self)

    # ------------------------------------------------------------------------------------
    # connection
    # ------------------------------------------------------------------------------------
    @property
    def token(self) -> str:
        return self._access_token

    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> str | None:
        return self._port

    @property
    def path(self) -> str:
        return self._api_path

    @property
    def base_path(self) -> str:
        if self._port:
            return f"{self._host}:{self._port}{self._api_path}"
        return f"{self._host}{self._api_path}"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._access_token}"}

    def generate_path_to(self, endpoint: str) -> str:
        return f"{self.base_path}/{endpoint.lstrip('/')}"

    def _send(self, method: str, endpoint: str, **kwargs: Any) -> httpx.Response:
        url = self.generate_path_to(endpoint)
        retrier = retrying(RETRIED, attempts=self.connection_attempts, initial=0.5, cap=5.0)
        try:
            return retrier(
                self._http.request,
                method.upper(),
                url,
                headers=self.headers,
                timeout=self.timeout,
                **kwargs,
            )
        except RETRIED as exc:
            raise AlgorithmClientError(
                f"Could not reach the node proxy at {url}: {exc}", endpoint=endpoint
            ) from exc

    def request(
        self,
        endpoint: str,
        method: str = "get",
        params: dict | None = None,
        json: Any = None,
    ) -> Any:
        """Send one request to the proxy and return the decoded JSON answer.

        Raises :class:`AlgorithmClientError` on any answer with status >= 400.
        """
        response = self._send(method, endpoint, params=params, json=json)
        if response.status_code >= 400:
            try:
                body = response.json()
                msg = body.get("msg") if isinstance(body, dict) else None
                errors = body.get("errors") if isinstance(body, dict) else None
            except ValueError:
                msg, errors = response.text[:500], None
            detail = f"{msg}" + (f" ({errors})" if errors else "")
            raise AlgorithmClientError(
                f"{method.upper()} /{endpoint.lstrip('/')} failed with status "
                f"{response.status_code}: {detail}",
                status_code=response.status_code,
                endpoint=endpoint,
            )
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise AlgorithmClientError(
                f"/{endpoint.lstrip('/')} did not answer with JSON", response.status_code, endpoint
            ) from exc

    def _multi_page_request(self, endpoint: str, params: dict | None = None) -> list:
        """All items of a paginated list endpoint."""
        params = dict(params or {})
        params.pop("page", None)
        items: list = []
        page = 1
        while True:
            body = self.request(endpoint, params={**params, "page": page})
            if isinstance(body, list):  # an endpoint without pagination
                return body
            data = body.get("data") or []
            items.extend(data)
            links = body.get("links") or {}
            if not links.get("next") or not data:
                return items
            page += 1

    def _fail(self, what: str, response: httpx.Response, endpoint: str) -> AlgorithmClientError:
        try:
            body = response.json()
            msg = body.get("msg") if isinstance(body, dict) else None
        except ValueError:
            msg = response.text[:500]
        return AlgorithmClientError(
            f"{what} failed with status {response.status_code}: {msg}",
            status_code=response.status_code,
            endpoint=endpoint,
        )

    def blob_store_enabled(self) -> bool:
        """Whether the server keeps inputs and results as blobs (an error answer: no)."""
        response = self._send("get", "blobstream/status")
        if response.status_code >= 400:
            return False
        try:
            return response.json().get("blob_store_enabled") is True
        except (ValueError, AttributeError):
            return False

    def _upload_blob(self, data: bytes, public_key: str | None) -> str:
        """Upload ``data`` (plain) through the proxy, which encrypts it for the owner of
        ``public_key`` in an encrypted collaboration; returns the blob's uuid."""
        headers = {**self.headers, "Content-Type": OCTET_STREAM}
        if public_key:
            headers["X-Public-Key"] = public_key
        view = memoryview(data)
        pieces = (
            bytes(view[at : at + BLOB_CHUNK_SIZE]) for at in range(0, len(view), BLOB_CHUNK_SIZE)
        )
        url = self.generate_path_to("blobstream")
        try:  # not retried: a streamed body cannot be sent twice
            response = self._http.post(url, content=pieces, headers=headers, timeout=self.timeout)
        except httpx.HTTPError as exc:
            raise AlgorithmClientError(
                f"Could not reach the node proxy at {url}: {exc}", endpoint="blobstream"
            ) from exc
        if response.status_code >= 400:
            raise self._fail("Uploading the input", response, "blobstream")
        try:
            blob_id = response.json()["uuid"]
        except (ValueError, KeyError, TypeError):
            blob_id = None
        if not isinstance(blob_id, str) or not blob_id:
            raise AlgorithmClientError("The upload was not answered with a blob uuid")
        return blob_id

    def _save_blob(self, uuid: str, path: str | Path) -> int:
        """Stream a blob (decrypted by the proxy) into a new file; returns its size."""
        reference = str(uuid).strip().strip("'\"")
        url = self.generate_path_to(f"blobstream/{reference}")
        target = Path(path)
        partial = target.with_name(f".{target.name}.partial")
        size = 0
        try:
            with self._http.stream("GET", url, headers=self.headers) as response:
                if response.status_code >= 400:
                    response.read()
                    raise self._fail(f"Downloading result {reference}", response, "blobstream")
                with open(partial, "wb") as out:
                    for chunk in response.iter_bytes(BLOB_CHUNK_SIZE):
                        out.write(chunk)
                        size += len(chunk)
            partial.replace(target)
        except httpx.HTTPError as exc:
            raise AlgorithmClientError(
                f"Could not reach the node proxy at {url}: {exc}", endpoint="blobstream"
            ) from exc
        finally:
            partial.unlink(missing_ok=True)
        return size

    def _download_blob(self, uuid: str) -> bytes:
        reference = str(uuid).strip().strip("'\"")
        response = self._send("get", f"blobstream/{reference}")
        if response.status_code >= 400:
            raise self._fail(f"Downloading result {reference}", response, "blobstream")
        return response.content

    def _decode_run_result(self, run: dict) -> Any:
        raw = run.get("result")
        if raw in (None, ""):
            return None
        try:
            if run.get("blob_storage_used"):
                return loads(self._download_blob(raw))
            return decode_payload(raw)
        except (ValueError, UnicodeError) as exc:
            raise AlgorithmClientError(
                f"The result of run {run.get('id')} could not be decoded: {exc}"
            ) from exc

    # ------------------------------------------------------------------------------------
    # waiting
    # ------------------------------------------------------------------------------------
    def wait_for_task_completion(
        self, task_id: int, interval: float = 1, timeout: float | None = None
    ) -> str:
        """Poll ``GET /task/<id>/status`` until the task finished; return the final status."""
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = max(float(interval), 0.05)
        while True:
            status = (self.request(f"task/{task_id}/status") or {}).get("status")
            if status is not None and status not in UNFINISHED_STATUSES:
                if status in FAILED_STATUSES:
                    info(f"Task {task_id} finished with status {status!r}")
                return status
            if deadline is not None and time.monotonic() + delay > deadline:
                raise TimeoutError(f"Task {task_id} did not finish within {timeout} s")
            time.sleep(delay)
            delay = min(delay * POLL_INTERVAL_GROWTH, max(MAX_POLL_INTERVAL, interval))

    def wait_for_results(
        self, task_id: int, interval: float = 1, timeout: float | None = None
    ) -> list:
        """Wait for a (sub)task to finish and return its decoded results.

        Like vantage6, runs without a result (e.g. failed ones) are left out, so compare the
        length with the number of organizations if every organization must answer.
        """
        self.wait_for_task_completion(task_id, interval=interval, timeout=timeout)
        return self.result.from_task(task_id)

    # ------------------------------------------------------------------------------------
    # sub-clients
    # ------------------------------------------------------------------------------------
    class SubClient:
        def __init__(self, parent: AlgorithmClient) -> None:
            self.parent = parent

    class Task(SubClient):
        def get(self, task_id: int) -> dict:
            return self.parent.request(f"task/{task_id}")

        def create(
            self,
            input_: dict,
            organizations: list[int] | None = None,
            name: str = "subtask",
            description: str | None = None,
            databases: list[dict] | None = None,
        ) -> dict:
            """Create a subtask (same image and collaboration) for ``organizations``.

            ``input_`` is usually ``{"method": ..., "args": [...], "kwargs": {...}}``. It is
            sent as base64 of its JSON, or uploaded as a blob per organization when the
            server has a blob store; the node proxy encrypts it per organization.
            ``databases`` defaults to the databases of this container's own task.
            """
            if not organizations:
                raise ValueError("A subtask needs at least one organization")
            org_ids = [int(org) for org in organizations]
            if self.parent.blob_store_enabled():
                data = dumps_bytes(input_)
                inputs = []
                for org in org_ids:
                    public_key = self.parent.request(f"organization/{org}").get("public_key")
                    inputs.append(self.parent._upload_blob(data, public_key))
            else:
                inputs = [encode_payload(input_)] * len(org_ids)
            body: dict[str, Any] = {
                "name": name,
                "image": self.parent.image,
                "collaboration_id": self.parent.collaboration_id,
                "description": description
                or f"subtask from container on node_id={self.parent.node_id}",
                "organizations": [
                    {"id": org, "input": text} for org, text in zip(org_ids, inputs, strict=True)
                ],
                "databases": self.parent.databases if databases is None else databases,
            }
            if self.parent.study_id:
                body["study_id"] = self.parent.study_id
            if self.parent.store_id:
                body["store_id"] = self.parent.store_id
            return self.parent.request("task", method="post", json=body)

    class Result(SubClient):
        def get(self, id_: int) -> Any:
            """The decoded result of one run."""
            return self.parent._decode_run_result(self.parent.request(f"result/{id_}") or {})

        def download(self, id_: int, path: str | Path) -> int:
            """Write the result of run ``id_`` (the JSON its algorithm returned) to a new file
            at ``path``; returns its size. A blob result streams to the file a chunk at a
            time. A failure leaves no file."""
            run = self.parent.request(f"result/{id_}") or {}
            raw = run.get("result")
            if raw in (None, ""):
                raise AlgorithmClientError(f"Run {id_} has no result (yet)")
            if run.get("blob_storage_used"):
                return self.parent._save_blob(raw, path)
            try:
                data = b64_to_bytes(raw)
            except ValueError as exc:
                raise AlgorithmClientError(f"The result of run {id_} is not base64") from exc
            Path(path).write_bytes(data)
            return len(data)

        def from_task(self, task_id: int) -> list:
            """Decoded results of all runs of a task that have a result."""
            runs = self.parent._multi_page_request("result", params={"task_id": task_id})
            return [self.parent._decode_run_result(r) for r in runs if r.get("result")]

    class Run(SubClient):
        def get(self, id_: int) -> dict:
            return self.parent.request(f"run/{id_}")

        def from_task(self, task_id: int) -> list[dict]:
            """Runs of a task as the proxy returns them (``input``/``result`` not decoded)."""
            return self.parent._multi_page_request("run", params={"task_id": task_id})

    class Organization(SubClient):
        def get(self, id_: int) -> dict:
            return self.parent.request(f"organization/{id_}")

        def list(self) -> list[dict]:
            """Organizations in this container's study, or else its collaboration."""
            if self.parent.study_id:
                params = {"study_id": self.parent.study_id}
            else:
                params = {"collaboration_id": self.parent.collaboration_id}
            return self.parent._multi_page_request("organization", params=params)

    class Collaboration(SubClient):
        def get(self) -> dict:
            return self.parent.request(f"collaboration/{self.parent.collaboration_id}")

    class Node(SubClient):
        def get(self, id_: int | None = None) -> dict:
            """A node (default: the one this container runs on)."""
            return self.parent.request(f"node/{self.parent.node_id if id_ is None else id_}")

    class Study(SubClient):
        def get(self, id_: int) -> dict:
            return self.parent.request(f"study/{id_}")

        def list(self) -> list[dict]:
            return self.parent._multi_page_request(
                "study", params={"collaboration_id": self.parent.collaboration_id}
            )

    class VPN(SubClient):
        def get_addresses(
            self,
            only_children: bool = False,
            only_parent: bool = False,
            only_siblings: bool = False,
            only_self: bool = False,
            include_children: bool = False,
            include_parent: bool = False,
            label: str | None = None,
        ) -> list[dict]:
            flags: dict[str, Any] = {
                "only_children": only_children,
                "only_parent": only_parent,
                "only_siblings": only_siblings,
                "only_self": only_self,
                "include_children": include_children,
                "include_parent": include_parent,
            }
            params: dict[str, Any] = {k: 1 for k, v in flags.items() if v}
            if label:
                params["label"] = label
            body = self.parent.request("vpn/algorithm/addresses", params=params) or {}
            return body.get("addresses", [])

        def get_parent_address(self) -> list[dict]:
            return self.get_addresses(only_parent=True)

        def get_child_addresses(self) -> list[dict]:
            return self.get_addresses(only_children=True)

        def get_sibling_addresses(self) -> list[dict]:
            return self.get_addresses(only_siblings=True)

        def get_own_address(self) -> list[dict]:
            return self.get_addresses(only_self=True)


#: Type of a function decorated with ``@algorithm_client`` (for annotations).
AlgorithmFunction = Callable[..., Any]
