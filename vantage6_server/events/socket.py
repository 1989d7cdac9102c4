"""Socket.IO namespace ``/tasks``: authentication, rooms, node pings and relayed events."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import jwt
import socketio
from anyio import to_thread
from sqlalchemy import select

from vantage6_common.events import (
    NAMESPACE,
    RUN_OFFER_FEATURE,
    Event,
    NodeStatus,
    StatusChange,
    status_change,
)
from vantage6_common.status import RunStatus
from vantage6_server.db import models as m
from vantage6_server.events.emitter import (
    ALL_NODES,
    collaboration_room,
    offer_room,
    organization_room,
    user_room,
)
from vantage6_server.rbac import policy
from vantage6_server.rbac.catalog import Scope
from vantage6_server.rbac.principal import Principal, node_principal, user_rule_keys
from vantage6_server.security.tokens import TokenError, key_matches

if TYPE_CHECKING:
    from vantage6_server.context import ServerContext

log = logging.getLogger(__name__)
#: seconds a node with an expired token stays connected (without rooms) to renew it
EXPIRED_GRACE = 10.0


def _token_from(environ: dict, auth: Any) -> str | None:
    header = environ.get("HTTP_AUTHORIZATION", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    if isinstance(auth, dict) and auth.get("token"):
        return str(auth["token"]).removeprefix("Bearer ").strip()
    return None


def _client_type(token: str) -> str | None:
    """The ``client_type`` of a token whose signature was already verified (an expired one)."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False, "verify_exp": False})
    except jwt.PyJWTError:
        return None
    return claims.get("client_type")


def _wants(auth: Any, feature: str) -> bool:
    """Whether the handshake's ``auth`` lists ``feature`` under ``features``."""
    features = auth.get("features") if isinstance(auth, dict) else None
    return isinstance(features, list) and feature in features


class TasksNamespace(socketio.AsyncNamespace):
    """Clients connect with a JWT; nodes and users join rooms by collaboration."""

    def __init__(self, ctx: ServerContext) -> None:
        super().__init__(NAMESPACE)
        self.ctx = ctx
        # runs a node's connection may report on, checked once each (sid -> run ids)
        self._own_runs: dict[str, set[int]] = {}
        self._closers: set[asyncio.Task] = set()

    # -- connection ---------------------------------------------------------------------------
    async def on_connect(self, sid: str, environ: dict, auth: Any = None) -> bool:
        token = _token_from(environ, auth)
        if not token:
            return False
        try:
            claims = self.ctx.tokens.decode(token)
        except TokenError as exc:
            # without data: the 4.x node's handlers take none
            expired = "expired" in str(exc)
            await self.emit(Event.EXPIRED_TOKEN if expired else Event.INVALID_TOKEN, to=sid)
            if expired and _client_type(token) == "node":
                await self._hold_until_renewed(sid)
                return True
            return False
        info = await to_thread.run_sync(self._identify, claims)
        if info is None:
            return False
        await self.save_session(sid, info)
        for room in info["rooms"]:
            await self.enter_room(sid, room)
        if info["kind"] == "node" and _wants(auth, RUN_OFFER_FEATURE):
            await self.enter_room(sid, offer_room(info["id"]))
        if info["kind"] == "node":
            await to_thread.run_sync(self._set_node_status, info["id"], "online")
            await self.emit(
                Event.NODE_ONLINE,
                _node_payload(info),
                room=collaboration_room(info["collaboration_id"]),
                skip_sid=sid,
            )
            await self.emit(Event.SYNC, to=sid)  # without data: the 4.x node's handler takes none
        return True

    async def _hold_until_renewed(self, sid: str) -> None:
        """Accept a node whose token expired, in no room and with no identity, until it
        reconnects with a renewed token (or for ``EXPIRED_GRACE`` seconds at most).

        A 4.x node reconnects its socket with the token it first connected with. On
        ``expired_token`` it drops that socket, refreshes its token and opens a new one; but
        its socket client only stops reconnecting once the namespace is connected. Refused, the
        old socket would keep coming back with the stale token, and each ``expired_token`` it
        gets makes the node drop its new, working socket again.
        """
        await self.save_session(sid, {"kind": "expired"})

        async def close_later() -> None:
            await asyncio.sleep(EXPIRED_GRACE)
            await self.disconnect(sid)

        task = asyncio.create_task(close_later())
        self._closers.add(task)
        task.add_done_callback(self._closers.discard)

    def _identify(self, claims: dict) -> dict | None:
        with self.ctx.db.session() as session:
            kind = claims.get("client_type")
            if kind == "node":
                node = session.get(m.Node, int(claims["sub"]))
                if node is None or not key_matches(claims, node.token_key):
                    return None
                return {
                    "kind": "node",
                    "id": node.id,
                    "name": node.name,
                    "organization_id": node.organization_id,
                    "collaboration_id": node.collaboration_id,
                    "rooms": [
                        ALL_NODES,
                        collaboration_room(node.collaboration_id),
                        organization_room(node.collaboration_id, node.organization_id),
                    ],
                }
            if kind == "user":
                user = session.get(m.User, int(claims["sub"]))
                if (
                    user is None
                    or claims.get("ver", 0) != user.token_version
                    or not key_matches(claims, user.token_key)
                ):
                    return None
                principal = Principal(
                    kind="user",
                    id=user.id,
                    organization_id=user.organization_id,
                    session=session,
                    rule_keys=user_rule_keys(session, user.id),
                )
                return {
                    "kind": "user",
                    "id": user.id,
                    "ver": user.token_version,
                    "organization_id": user.organization_id,
                    "rooms": [user_room(user.id), *_user_rooms(principal, session)],
                }
            if kind == "container":
                identity = claims.get("sub") or {}
                return {"kind": "container", "id": identity.get("task_id"), "rooms": []}
        return None

    def _set_node_status(self, node_id: int, status: str) -> None:
        with self.ctx.db.session() as session:
            node = session.get(m.Node, node_id)
            if node is not None:
                node.status = status
                node.last_seen = m.utcnow()
                session.commit()

    async def on_disconnect(self, sid: str, *args: Any) -> None:
        self._own_runs.pop(sid, None)
        try:
            info = await self.get_session(sid)
        except KeyError:
            return
        if info.get("kind") == "node":
            await to_thread.run_sync(self._set_node_status, info["id"], "offline")
            await self.emit(
                Event.NODE_OFFLINE,
                _node_payload(info),
                room=collaboration_room(info["collaboration_id"]),
            )

    # -- node events -----------------------------------------------------------------------------
    async def on_ping(self, sid: str, *args: Any) -> None:
        info = await self.get_session(sid)
        if info.get("kind") == "node":
            await to_thread.run_sync(self._set_node_status, info["id"], "online")

    async def on_algorithm_status_change(self, sid: str, data: Any) -> None:
        info = await self.get_session(sid)
        if info.get("kind") != "node" or not isinstance(data, dict):
            return
        payload = await to_thread.run_sync(self._status_to_relay, info, data)
        if payload is not None:
            await self.emit(
                Event.ALGORITHM_STATUS_CHANGE,
                payload,
                room=collaboration_room(info["collaboration_id"]),
            )

    def _status_to_relay(self, info: dict, data: dict) -> StatusChange | None:
        """The event to relay for a node's status report, or None to drop it.

        Only the node's own runs (the policy's ``may_report``); task, job and parent come
        from the run, not from the node. Nodes tell the collaboration after each accepted
        status (vantage6 servers relay it); this server announces every status change when
        it stores it, so a status the run already has was announced, and an older one
        reported after the run finished is stale.
        """
        run_id = _int_or_none(data.get("run_id"))
        if run_id is None:
            return None
        with self.ctx.db.session() as session:
            run = session.get(m.Run, run_id)
            if run is None or not policy.may_report(_node_of(info, session), run):
                return None
            status = data.get("status")
            if status not in _STATUSES:
                return None
            if run.status == status or RunStatus(run.status).is_finished:
                return None
            task = run.task
            return status_change(
                status=status,
                run_id=run.id,
                task_id=task.id,
                job_id=task.job_id,
                parent_id=task.parent_id,
                collaboration_id=info["collaboration_id"],
                node_id=info["id"],
                organization_id=info["organization_id"],
            )

    async def on_algorithm_log(self, sid: str, data: Any) -> None:
        info = await self.get_session(sid)
        if info.get("kind") != "node" or not isinstance(data, dict):
            return
        run_id = _int_or_none(data.get("run_id"))
        if run_id is None:
            return
        if run_id not in self._own_runs.get(sid, ()):
            if not await to_thread.run_sync(self._reports_on, info, run_id):
                return
            self._own_runs.setdefault(sid, set()).add(run_id)
        payload = {
            **{k: v for k, v in data.items() if k in ("task_id", "log", "stream", "line")},
            "run_id": run_id,
            "node_id": info["id"],
            "organization_id": info["organization_id"],
        }
        await self.emit(
            Event.ALGORITHM_LOG, payload, room=collaboration_room(info["collaboration_id"])
        )

    def _reports_on(self, info: dict, run_id: int) -> bool:
        with self.ctx.db.session() as session:
            run = session.get(m.Run, run_id)
            return run is not None and policy.may_report(_node_of(info, session), run)

    async def revalidate_users(self) -> None:
        """Close user connections whose account is gone or whose tokens were revoked."""
        users: dict[str, tuple[int, int]] = {}
        for sid, _eio_sid in list(self.server.manager.get_participants(NAMESPACE, None)):
            try:
                info = await self.get_session(sid)
            except KeyError:
                continue
            if info.get("kind") == "user":
                users[sid] = (info["id"], info.get("ver", 0))
        if not users:
            return
        valid = await to_thread.run_sync(self._current_versions, {u for u, _ in users.values()})
        for sid, (user_id, ver) in users.items():
            if valid.get(user_id) != ver:
                await self.disconnect(sid)

    def _current_versions(self, user_ids: set[int]) -> dict[int, int]:
        with self.ctx.db.session() as session:
            rows = session.execute(
                select(m.User.id, m.User.token_version).where(m.User.id.in_(user_ids))
            )
            return {user_id: version for user_id, version in rows}

    async def on_node_info_update(self, sid: str, data: Any) -> None:
        info = await self.get_session(sid)
        if info.get("kind") != "node" or not isinstance(data, dict):
            return
        await to_thread.run_sync(self._store_node_config, info["id"], data)

    def _store_node_config(self, node_id: int, data: dict) -> None:
        with self.ctx.db.session() as session:
            node = session.get(m.Node, node_id)
            if node is not None:
                node.config = {str(k): v for k, v in data.items()}
                session.commit()


def _node_payload(info: dict) -> NodeStatus:
    return {"id": info["id"], "name": info.get("name"), "org_id": info["organization_id"]}


_STATUSES = frozenset(s.value for s in RunStatus)


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _node_of(info: dict, session) -> Principal:
    """The policy's view of a connected node (from its socket session, no query)."""
    return node_principal(
        m.Node(
            id=info["id"],
            organization_id=info["organization_id"],
            collaboration_id=info["collaboration_id"],
        ),
        session,
    )


def _user_rooms(principal: Principal, session) -> list[str]:
    scope = policy.event_scope(principal)
    if scope is None:
        return []
    if scope is Scope.GLOBAL:
        ids = list(session.scalars(select(m.Collaboration.id)))
        return [collaboration_room(i) for i in ids]
    if scope is Scope.COLLABORATION:
        return [collaboration_room(i) for i in principal.collaboration_ids]
    return [organization_room(i, principal.organization_id) for i in principal.collaboration_ids]


async def revalidate_users(namespace: TasksNamespace, interval: float = 10.0) -> None:
    """Every ``interval`` seconds, close the connections of deleted or revoked users (those
    of this instance; a deletion closes them at once, this catches the other instances)."""
    while True:
        await asyncio.sleep(interval)
        try:
            await namespace.revalidate_users()
        except Exception:  # noqa: BLE001 - a failed round is retried at the next
            log.exception("Revalidating user connections failed")


async def mark_stale_nodes_offline(ctx: ServerContext, interval: float = 30.0) -> None:
    """Nodes that stopped pinging are set offline (a crash leaves no disconnect)."""
    import datetime as dt

    while True:
        await asyncio.sleep(interval)
        limit = m.utcnow() - dt.timedelta(seconds=ctx.settings.node_offline_seconds)

        def _sweep(limit=limit) -> None:
            with ctx.db.session() as session:
                stale = session.scalars(
                    select(m.Node).where(m.Node.status == "online", m.Node.last_seen < limit)
                ).all()
                for node in stale:
                    node.status = "offline"
                session.commit()

        await to_thread.run_sync(_sweep)
