"""``/algorithmstore``: algorithm stores coupled to one collaboration or to all of them.

Coupling a store asks the store to whitelist this server (``POST {store}/api/vantage6-server``
with the user's token), as vantage6 4.x does; a store that refuses is still coupled when its
algorithms are public. Store addresses are kept without the API path: the published client
appends ``/api`` itself (``client.store.set``).
"""

from __future__ import annotations

import httpx
from fastapi import APIRouter, Request
from pydantic import Field, field_validator
from sqlalchemy import delete, or_, select

from vantage6_common.service.pagination import page_response
from vantage6_server.api.common import Body, get_or_404
from vantage6_server.api.deps import Auth, Db, UserAuth
from vantage6_server.api.errors import ApiError, bad_request
from vantage6_server.api.schemas import AlgorithmStore, Message, answers, page_of
from vantage6_server.db import models as m
from vantage6_server.rbac import policy
from vantage6_server.rbac.catalog import Operation
from vantage6_server.serialize import link, stub

router = APIRouter(tags=["Algorithm store"])
STORE_TIMEOUT = 10.0


def store_base(url: str) -> str:
    """The store's address without a trailing slash or API path."""
    url = url.rstrip("/")
    return url.removesuffix("/api")


def serialize_store(store: m.AlgorithmStore) -> dict:
    return {
        "id": store.id,
        "name": store.name,
        "url": store.url,
        "collaboration": stub("collaboration", store.collaboration_id, ("GET",)),
        "collaborations": (
            link("collaboration", "algorithm_store_id", store.id)
            if store.collaboration_id
            else None
        ),
    }


class StoreIn(Body):
    name: str = Field(min_length=1, max_length=128)
    algorithm_store_url: str = Field(min_length=1, max_length=512, pattern=r"^https?://\S+$")
    server_url: str | None = Field(None, max_length=512, pattern=r"^https?://\S+$")
    # the published client 4.14 sends a one-element list
    collaboration_id: int | list[int] | None = None
    force: bool = False

    @field_validator("collaboration_id")
    @classmethod
    def _one_collaboration(cls, value: int | list[int] | None) -> int | None:
        if isinstance(value, list):
            if len(value) != 1:
                raise ValueError("give one collaboration id")
            value = value[0]
        if value is not None and not 1 <= value <= 2**31 - 1:
            raise ValueError("not a valid id")
        return value


class StorePatch(Body):
    name: str | None = Field(None, min_length=1, max_length=128)
    collaboration_id: int | None = Field(None, ge=1, le=2**31 - 1)


def _ensure_may_couple(user, session, collaboration_id: int | None) -> None:
    if collaboration_id is None:
        policy.ensure(
            user,
            Operation.EDIT,
            "collaboration",
            msg="You lack the permission to add algorithm stores for all collaborations!",
        )
        return
    collab = get_or_404(session, m.Collaboration, collaboration_id, "Collaboration")
    policy.ensure(user, Operation.EDIT, "collaboration", collab)


def _call_store(
    method: str, base: str, endpoint: str, server_url: str, request: Request, **kwargs
) -> httpx.Response:
    headers = {"server_url": server_url}
    if "authorization" in request.headers:
        headers["Authorization"] = request.headers["authorization"]
    try:
        return httpx.request(
            method, f"{base}/api/{endpoint}", headers=headers, timeout=STORE_TIMEOUT, **kwargs
        )
    except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:  # ValueError: bad host name
        raise ApiError(
            404, f"Algorithm store cannot be reached at {base}/api ({type(exc).__name__})"
        ) from exc


def _store_error(response: httpx.Response) -> ApiError:
    try:
        msg = response.json()["msg"]
    except (ValueError, KeyError, TypeError):
        msg = f"HTTP status {response.status_code}"
    status = response.status_code if 400 <= response.status_code < 500 else 502
    return ApiError(status, f"Algorithm store error: {msg}")


def _store_is_public(base: str, server_url: str, request: Request) -> bool:
    response = _call_store("GET", base, "policy/public", server_url, request)
    try:
        return response.status_code == 200 and response.json().get("algorithm_view") == "public"
    except ValueError:
        return False


@router.get(
    "/algorithmstore",
    summary="Algorithm stores coupled to collaborations",
    **page_of(AlgorithmStore),
)
def list_stores(
    request: Request,
    principal: Auth,
    session: Db,
    name: str | None = None,
    url: str | None = None,
    collaboration_id: int | None = None,
    page: int = 1,
    per_page: int = 10,
):
    visible = policy.visible_ids(principal, "collaboration", m.Collaboration.id)
    stmt = select(m.AlgorithmStore).where(
        or_(
            m.AlgorithmStore.collaboration_id.in_(visible),
            m.AlgorithmStore.collaboration_id.is_(None),
        )
    )
    if name is not None:
        stmt = stmt.where(m.AlgorithmStore.name.like(name))
    if url is not None:
        stmt = stmt.where(m.AlgorithmStore.url.like(url))
    if collaboration_id is not None:
        # (stores of collaborations the caller may not see are filtered out above)
        stmt = stmt.where(
            or_(
                m.AlgorithmStore.collaboration_id == collaboration_id,
                m.AlgorithmStore.collaboration_id.is_(None),
            )
        )
    return page_response(
        request,
        session,
        stmt,
        serialize_store,
        page=page,
        per_page=per_page,
        default_order=[m.AlgorithmStore.id],
    )


@router.post(
    "/algorithmstore",
    status_code=201,
    summary="Couple an algorithm store",
    **answers(AlgorithmStore, 201),
)
def add_store(body: StoreIn, request: Request, user: UserAuth, session: Db) -> dict:
    collaboration_id = body.collaboration_id
    _ensure_may_couple(user, session, collaboration_id)
    base = store_base(body.algorithm_store_url)
    existing = list(session.scalars(select(m.AlgorithmStore).where(m.AlgorithmStore.url == base)))
    coupled = {s.collaboration_id for s in existing}
    if None in coupled:
        raise bad_request("Algorithm store is already available for all collaborations")
    if collaboration_id in coupled:
        raise bad_request("Algorithm store is already available for this collaboration")
    host = base.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0]
    if not body.force and host in ("localhost", "127.0.0.1", "[::1]"):
        raise bad_request(
            "Algorithm store url is insecure: localhost services may be run on any computer. "
            "Add it anyway with 'force': true, but only for development servers!"
        )
    if not body.server_url:
        raise bad_request("The 'server_url' key (this server's address with /api) is required")
    server_url = body.server_url.rstrip("/")
    response = _call_store(
        "POST",
        base,
        "vantage6-server",
        server_url,
        request,
        json={"url": server_url, "force": body.force},
    )
    if response.status_code == 403:
        if not _store_is_public(base, server_url, request):
            raise _store_error(response)
    elif response.status_code not in (200, 201, 208):
        raise _store_error(response)
    if collaboration_id is None:
        session.execute(delete(m.AlgorithmStore).where(m.AlgorithmStore.url == base))
    store = m.AlgorithmStore(name=body.name, url=base, collaboration_id=collaboration_id)
    session.add(store)
    session.commit()
    return serialize_store(store)


@router.get("/algorithmstore/{id}", summary="View an algorithm store", **answers(AlgorithmStore))
def get_store(id: int, principal: Auth, session: Db) -> dict:
    store = get_or_404(session, m.AlgorithmStore, id, "Algorithm store")
    if store.collaboration_id is not None:
        collab = session.get(m.Collaboration, store.collaboration_id)
        allowed = principal.collaboration_id == collab.id or policy.may(
            principal, Operation.VIEW, "collaboration", collab
        )
        if not allowed:
            raise ApiError(403, "You lack the permission to do that!")
    return serialize_store(store)


@router.patch(
    "/algorithmstore/{id}",
    summary="Rename or recouple an algorithm store",
    **answers(AlgorithmStore),
)
def patch_store(id: int, body: StorePatch, user: UserAuth, session: Db) -> dict:
    store = get_or_404(session, m.AlgorithmStore, id, "Algorithm store")
    _ensure_may_couple(user, session, store.collaboration_id)
    changes = body.model_dump(exclude_unset=True)
    if "collaboration_id" in changes:
        _ensure_may_couple(user, session, changes["collaboration_id"])
        store.collaboration_id = changes["collaboration_id"]
    if body.name is not None:
        store.name = body.name
    session.commit()
    return serialize_store(store)


@router.delete("/algorithmstore/{id}", summary="Uncouple an algorithm store", **answers(Message))
def delete_store(
    id: int, request: Request, user: UserAuth, session: Db, server_url: str | None = None
) -> dict:
    store = get_or_404(session, m.AlgorithmStore, id, "Algorithm store")
    _ensure_may_couple(user, session, store.collaboration_id)
    same_url = list(
        session.scalars(select(m.AlgorithmStore).where(m.AlgorithmStore.url == store.url))
    )
    if len(same_url) > 1:
        _ensure_may_couple(user, session, None)
    if not server_url:
        raise bad_request("The 'server_url' query parameter is required")
    server_url = server_url.rstrip("/")
    listed = _call_store(
        "GET", store.url, "vantage6-server", server_url, request, params={"url": server_url}
    )
    whitelisted = []
    if listed.status_code == 200:
        whitelisted = [s for s in listed.json() if isinstance(s, dict) and "id" in s]
    elif listed.status_code != 403:
        raise _store_error(listed)
    for entry in whitelisted:
        removed = _call_store(
            "DELETE", store.url, f"vantage6-server/{entry['id']}", server_url, request
        )
        if removed.status_code != 200:
            raise _store_error(removed)
    for other in same_url:
        session.delete(other)
    session.commit()
    return {"msg": f"Algorithm store id={id} successfully deleted"}
