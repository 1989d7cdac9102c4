"""The user client: log in, manage resources, create tasks and collect their results."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from vantage6_client import resources
from vantage6_client.blobs import BlobSupport
from vantage6_client.encryption import EncryptionSupport
from vantage6_client.events import TaskEvents
from vantage6_client.exceptions import (
    NotAuthenticatedError,
    TwoFactorSetupRequired,
    V6ClientError,
    WaitTimeoutError,
)
from vantage6_client.session import WhoAmI
from vantage6_client.transport import Page, Transport
from vantage6_common.events import Event
from vantage6_common.related import related_id
from vantage6_common.status import UNFINISHED_STATUSES, RunStatus, task_status

log = logging.getLogger("vantage6_client")

#: Seconds between status checks while the event connection is up (a safety net only).
EVENT_FALLBACK_INTERVAL = 5.0
#: Polling when no event connection can be made: start, growth factor and ceiling.
POLL_START, POLL_GROWTH, POLL_MAX = 0.5, 1.5, 5.0
#: Re-checks after an event that did not (yet) show the task finished: a server may announce
#: a change just before it is committed.
#: How long to wait for the ``algorithm_status_change`` that follows a ``status_update``.
COMPANION_WAIT = 0.015
RECHECK_DELAYS = (0.01, 0.03, 0.06, 0.1, 0.2, 0.4, 0.8, 1.6)


def task_finished(status: str | None) -> bool:
    return status is not None and status not in UNFINISHED_STATUSES


def _results_complete(fetched: Any, runs: dict[int, str]) -> bool:
    """Whether a results page has an entry for every run, with a result where it completed."""
    items = fetched.get("data") if isinstance(fetched, dict) else None
    if not isinstance(items, list):
        return False
    by_run = {item.get("id"): item for item in items if isinstance(item, dict)}
    for run_id, status in runs.items():
        item = by_run.get(run_id)
        if item is None or (status == RunStatus.COMPLETED.value and item.get("result") is None):
            return False
    return True


def _explained(
    batch: list[tuple[str, dict[str, Any]]],
    task_id: int,
    runs: dict[int, str],
    covered: Counter[int],
) -> bool:
    """Whether these events tell every status change of the task's runs they mention.

    ``algorithm_status_change`` carries the new status; the bare ``status_update`` the server
    sends with it (before or after) says nothing more, and ``covered`` counts those still
    expected per run. A ``status_update`` of one of the runs without its companion could be
    a change the events do not describe. Events of other tasks change nothing.
    """
    explained = True
    for name, payload in batch:
        run_id = payload.get("run_id")
        if name == Event.ALGORITHM_STATUS_CHANGE:
            if payload.get("task_id") is None or not payload.get("status"):
                explained = False
            elif payload.get("task_id") == task_id:
                if run_id not in runs:
                    explained = False  # a run we did not know of
                else:
                    covered[run_id] += 1
        elif name == Event.STATUS_UPDATE:
            if run_id is None:
                explained = False
            elif run_id in runs:
                covered[run_id] -= 1
                if covered[run_id] < 0:
                    explained = False
        else:
            explained = False
    return explained


class Client:
    """Client for a vantage6 4.x-compatible server.

    ``Client("http://localhost", 7601, "/api")`` as in vantage6, or
    ``Client("http://localhost:7601/api")``: a URL that already carries a port or a path is
    used as given.

    Sub-clients: ``collaboration``, ``organization``, ``node``, ``user``, ``role``, ``rule``,
    ``study``, ``task``, ``run``, ``result`` and ``util``. Their ``list`` methods return every
    matching item (all pages) unless a ``page`` is asked for.
    """

    def __init__(
        self,
        host: str,
        port: int | None = None,
        api_path: str | None = "/api",
        *,
        timeout: float = 30.0,
        verify: bool | str = True,
        socketio_path: str = "/socket.io",
        use_events: bool = True,
        encryption_scheme: str | None = None,
        log_level: str | int | None = None,
        **_ignored: Any,
    ) -> None:
        if "://" not in host:
            host = "http://" + host
        parts = urlsplit(host)
        netloc = parts.netloc
        if port and parts.port is None:
            netloc = f"{netloc}:{port}"
        path = parts.path.rstrip("/")
        if not path and api_path:
            path = "/" + api_path.strip("/")
        self._host = f"{parts.scheme}://{parts.hostname}"
        self._port = parts.port or port
        self._api_path = path
        self.base_path = f"{parts.scheme}://{netloc}{path}"
        if log_level is not None:
            log.setLevel(log_level.upper() if isinstance(log_level, str) else log_level)

        self.transport = Transport(self.base_path, timeout=timeout, verify=verify)
        self.whoami: WhoAmI | None = None
        self.collaboration_id: int | None = None
        self.use_events = use_events
        self.events = TaskEvents(
            self.transport.origin, self.transport.current_token, socketio_path=socketio_path
        )
        if encryption_scheme is not None:
            raise ValueError(
                "encryption_scheme is not a client option: the collaboration's "
                "encryption_scheme decides the payload format"
            )
        self.crypto = EncryptionSupport(self)
        self.blobs = BlobSupport(self, self.crypto)
        self._pool: ThreadPoolExecutor | None = None

        self.util = resources.Util(self)
        self.organization = resources.Organization(self)
        self.collaboration = resources.Collaboration(self)
        self.study = resources.Study(self)
        self.node = resources.Node(self)
        self.user = resources.User(self)
        self.role = resources.Role(self)
        self.rule = resources.Rule(self)
        self.task = resources.Task(self)
        self.run = resources.Run(self)
        self.result = resources.Result(self)

    # -- compatibility properties -----------------------------------------------------------
    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int | None:
        return self._port

    @property
    def path(self) -> str:
        return self._api_path

    @property
    def token(self) -> str | None:
        return self.transport.access_token

    @property
    def name(self) -> str | None:
        return self.whoami.name if self.whoami else None

    @property
    def cryptor(self) -> Any:
        return self.crypto.cryptor

    # -- generic request --------------------------------------------------------------------
    def request(
        self,
        endpoint: str,
        json: Any = None,
        method: str = "get",
        params: dict[str, Any] | None = None,
        **_ignored: Any,
    ) -> Any:
        """Send one request to the API (``endpoint`` relative to the API path).

        Error answers raise an :class:`~vantage6_client.exceptions.ApiError` subclass.
        """
        return self.transport.request(method, endpoint, params=params, json=json)

    # -- login ------------------------------------------------------------------------------
    def authenticate(
        self, username: str, password: str, mfa_code: int | str | None = None
    ) -> WhoAmI:
        """Log in. With 2FA on, pass the 6-digit ``mfa_code``.

        Raises :class:`TwoFactorSetupRequired` (with the ``qr_uri`` to scan) when the user must
        first set up 2FA, and :class:`AuthenticationError` for a refused login.
        """
        body: dict[str, Any] = {"username": username, "password": password}
        if mfa_code:
            body["mfa_code"] = str(mfa_code)
        answer = self.transport.request("POST", "token/user", json=body, authenticated=False)
        if isinstance(answer, dict) and "qr_uri" in answer:
            raise TwoFactorSetupRequired(
                answer["qr_uri"], answer.get("otp_secret", ""), answer.get("msg", "")
            )
        if not isinstance(answer, dict) or "access_token" not in answer:
            raise V6ClientError(f"the server's login answer has no access token: {answer!r}")
        self.transport.set_tokens(
            answer["access_token"], answer.get("refresh_token"), answer.get("refresh_url")
        )
        self.events.close()  # a new identity needs a new event connection
        user_id = _id_from_url(answer.get("user_url")) or _subject(answer["access_token"])
        user = self.transport.request("GET", f"user/{user_id}")
        org_id = related_id(user.get("organization"))
        org_name = None
        if org_id is not None:
            org_name = self.transport.request("GET", f"organization/{org_id}").get("name")
        full_name = " ".join(p for p in (user.get("firstname"), user.get("lastname")) if p)
        self.whoami = WhoAmI(
            id=int(user["id"]),
            username=user.get("username", username),
            name=full_name or user.get("username", username),
            organization_id=org_id,
            organization_name=org_name,
        )
        self.crypto.reset()
        log.info("logged in as %s", self.whoami)
        return self.whoami

    def require_login(self) -> WhoAmI:
        if self.whoami is None:
            raise NotAuthenticatedError("not logged in: call authenticate() first")
        return self.whoami

    def setup_encryption(self, private_key_file: str | Path | None) -> None:
        """Use this organization's private key for encrypted collaborations.

        The public key on the server is compared with the private key and uploaded when it is
        missing or different. ``None`` means: no private key (unencrypted collaborations only).
        """
        self.crypto.setup(private_key_file)

    def setup_collaboration(self, collaboration_id: int) -> None:
        """Use ``collaboration_id`` as the default collaboration of later calls."""
        self.collaboration.get(collaboration_id)  # raises when it is not visible
        self.collaboration_id = collaboration_id

    # -- waiting ----------------------------------------------------------------------------
    def wait_for_task(
        self,
        task_id: int,
        timeout: float | None = None,
        on_update: Callable[[str], None] | None = None,
        interval: float | None = None,
    ) -> str:
        """Block until task ``task_id`` has finished; return its final status.

        The wait is woken by the server's Socket.IO run events; the server is asked for the
        task's status only when something happened (plus a slow safety-net check every
        ``interval`` seconds, default 5). Without an event connection it polls, starting at
        0.5 s and slowing down to 5 s. ``on_update`` is called with each new status.
        """
        status, _ = self._wait(task_id, timeout, on_update, interval, None)
        return status

    def wait_for_results(
        self,
        task_id: int,
        interval: float | None = None,
        timeout: float | None = None,
        on_update: Callable[[str], None] | None = None,
    ) -> Page:
        """Wait for task ``task_id`` to finish and return its results (all of them, decoded).

        Same waiting as :meth:`wait_for_task`; the answer is like :meth:`Result.from_task`.
        """

        def fetch() -> Page:
            return self.result.from_task(task_id)

        _, results = self._wait(task_id, timeout, on_update, interval, fetch)
        return results if results is not None else fetch()

    def _wait(
        self,
        task_id: int,
        timeout: float | None,
        on_update: Callable[[str], None] | None,
        interval: float | None,
        fetch: Callable[[], Any] | None,
    ) -> tuple[str, Any]:
        """Wait for the task; return its final status and, if it could be fetched alongside
        the last status check, ``fetch()``'s answer (else None)."""
        self.require_login()
        start = time.monotonic()
        deadline = None if timeout is None else start + timeout
        events = self.events
        task = self.transport.request("GET", f"task/{task_id}")
        collaboration_id = related_id(task.get("collaboration")) or task.get("collaboration_id")
        events_ok = self.use_events and events.ensure(collaboration_id)
        processed = events.sequence
        # run id -> status, kept up to date from algorithm_status_change events; when every
        # run is reported finished, the results are fetched together with the status check
        runs: dict[int, str] = {}
        if events_ok and fetch is not None:
            for run in self.transport.iter_items("run", {"task_id": task_id}):
                runs[int(run["id"])] = run.get("status")
        fallback = interval if interval is not None else EVENT_FALLBACK_INTERVAL
        poll = POLL_START
        rechecks: list[float] = []
        last_status: str | None = None
        prefetch = False

        def relevant(name: str, payload: dict[str, Any]) -> bool:
            if name == Event.ALGORITHM_STATUS_CHANGE and payload.get("task_id") is not None:
                return payload.get("task_id") == task_id
            return True

        checked = False
        covered: Counter[int] = Counter()  # per run: status_update events still expected
        while True:
            sequence = events.sequence
            batch = events.since(processed, sequence)
            for name, payload in batch:
                run_id = payload.get("run_id")
                if (
                    name == Event.ALGORITHM_STATUS_CHANGE
                    and payload.get("task_id") == task_id
                    and run_id in runs
                    and payload.get("status")
                ):
                    runs[run_id] = payload["status"]
            processed = sequence
            if runs and fetch is not None:
                prefetch = all(task_finished(s) for s in runs.values())
            explained = _explained(batch, task_id, runs, covered) if batch else False
            if checked and not prefetch and explained:
                # the events name every change and a run is still going: the task cannot have
                # finished, so there is nothing to ask the server (nor to check again soon)
                status, fetched = last_status, None
                rechecks = []
            elif prefetch:
                status, fetched = self._finish(task_id, fetch, runs)
            else:
                status, fetched = self._status(task_id), None
            checked = True
            if status != last_status:
                last_status = status
                if on_update is not None:
                    on_update(status)
            if task_finished(status):
                return status, fetched
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                raise WaitTimeoutError(task_id, timeout or 0.0, status)
            remaining = None if deadline is None else deadline - now
            if events_ok and events.connected:
                wait = rechecks.pop(0) if rechecks else fallback
                if remaining is not None:
                    wait = min(wait, remaining)
                if events.wait_after(sequence, wait, relevant):
                    rechecks = list(RECHECK_DELAYS)
                    if runs:
                        self._await_companion(sequence, runs)
            else:
                if events_ok:
                    # the connection dropped; it reconnects by itself, poll meanwhile
                    events_ok = events.ensure(collaboration_id)
                wait = poll if remaining is None else min(poll, remaining)
                time.sleep(wait)
                poll = min(poll * POLL_GROWTH, POLL_MAX)

    def _await_companion(self, sequence: int, runs: dict[int, str]) -> None:
        """After a bare ``status_update`` for one of our runs, give the server a moment to
        send the matching ``algorithm_status_change`` (it carries the new status, which lets
        the results be fetched together with the status check)."""
        updated: set[int] = set()
        described: set[int] = set()
        latest = self.events.sequence
        for name, payload in self.events.since(sequence, latest):
            run_id = payload.get("run_id")
            if run_id not in runs:
                continue
            (described if name == Event.ALGORITHM_STATUS_CHANGE else updated).add(run_id)
        pending = updated - described
        if pending:
            self.events.wait_after(
                latest,
                COMPANION_WAIT,
                lambda name, payload: (
                    name == Event.ALGORITHM_STATUS_CHANGE and payload.get("run_id") in pending
                ),
            )

    def _status(self, task_id: int) -> str | None:
        return self.transport.request("GET", f"task/{task_id}/status").get("status")

    def _finish(
        self, task_id: int, fetch: Callable[[], Any], runs: dict[int, str]
    ) -> tuple[str | None, Any]:
        """Every run is reported finished: the results, and the task's status.

        When the results are all there (a result for each run reported completed), the status
        follows from the runs' statuses by the server's own rule and is not asked for;
        otherwise both are requested (the events may have run ahead of the database).
        """
        fetched = fetch()
        if _results_complete(fetched, runs):
            return task_status(runs.values()), fetched
        return self._status_with(task_id, fetch)

    def _status_with(self, task_id: int, fetch: Callable[[], Any]) -> tuple[str | None, Any]:
        """The task's status and ``fetch()``, requested at the same time."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="v6-fetch")
        future = self._pool.submit(fetch)
        try:
            status = self._status(task_id)
        except BaseException:
            future.cancel()
            raise
        if not task_finished(status):
            future.cancel()
            return status, None
        return status, future.result()

    # -- lifetime ---------------------------------------------------------------------------
    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        self.events.close()
        self.transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        who = f" as {self.whoami.username}" if self.whoami else ""
        return f"<Client {self.base_path}{who}>"


#: vantage6's name for the same class.
UserClient = Client


def _id_from_url(url: Any) -> int | None:
    if not isinstance(url, str):
        return None
    tail = url.rstrip("/").rsplit("/", 1)[-1]
    return int(tail) if tail.isdigit() else None


def _subject(token: str) -> int:
    import jwt

    claims = jwt.decode(token, options={"verify_signature": False})
    sub = claims.get("sub")
    if isinstance(sub, dict):
        sub = sub.get("id")
    return int(sub)
