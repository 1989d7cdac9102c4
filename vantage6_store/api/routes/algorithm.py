"""``/algorithm``: submit, list, view, edit, invalidate and delete algorithms."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import Select, select

from vantage6_common.service.pagination import page_response
from vantage6_store import rbac, workflow
from vantage6_store.api import serialize
from vantage6_store.api.deps import Ctx, Db, needs, registered
from vantage6_store.api.schemas import AlgorithmIn, AlgorithmPatch, FunctionIn
from vantage6_store.api.serialize import ALGORITHM_TREE
from vantage6_store.context import StoreContext
from vantage6_store.db import models as m
from vantage6_store.digest import split_reference, without_digest
from vantage6_store.errors import ApiError, bad_request, not_found
from vantage6_store.identity import authenticate

router = APIRouter(tags=["Algorithm"])

_REVIEW_FLAGS = ("awaiting_reviewer_assignment", "under_review", "in_review_process", "invalidated")


def flag(value: str | None) -> bool:
    """A query flag: true, True, 1 and yes are set; anything else (or nothing) is not."""
    return (value or "").strip().lower() in ("1", "true", "yes")


def check_view(request: Request, ctx: StoreContext, session, approved_only: bool) -> None:
    """Apply the ``algorithm_view`` policy to the caller (nothing to check when public)."""
    view = ctx.settings.policies.algorithm_view
    if view == "public" and approved_only:
        return
    caller = authenticate(session, request.headers, ctx.settings.server_timeout)
    if view == "private" or (view == "public" and not approved_only and caller.user is None):
        rbac.require(registered(caller), "algorithm", rbac.VIEW)


def _status_filter(stmt: Select, request: Request) -> Select:
    flags = {name: flag(request.query_params.get(name)) for name in _REVIEW_FLAGS}
    chosen = [name for name, on in flags.items() if on]
    if len(chosen) > 1:
        raise bad_request(f"Only one of {', '.join(_REVIEW_FLAGS)} may be set at a time")
    if flags["awaiting_reviewer_assignment"]:
        return stmt.where(m.Algorithm.status == workflow.AWAITING)
    if flags["under_review"]:
        return stmt.where(m.Algorithm.status == workflow.UNDER_REVIEW)
    if flags["in_review_process"]:
        return stmt.where(m.Algorithm.status.in_(workflow.IN_REVIEW_PROCESS))
    if flags["invalidated"]:
        return stmt.where(m.Algorithm.invalidated_at.is_not(None))
    return stmt.where(m.Algorithm.status == workflow.APPROVED)


def _image_filter(stmt: Select, session, image: str) -> Select:
    """Exact image; with ``@sha256:...`` only that digest (a 400 names the approved one)."""
    stmt = stmt.where(m.Algorithm.image == without_digest(image))
    digest = split_reference(image)[3]
    if digest is None:
        return stmt
    pinned = stmt.where(m.Algorithm.digest == digest)
    if session.scalars(pinned.limit(1)).first() is None:
        current = session.scalars(stmt.order_by(m.Algorithm.id.desc()).limit(1)).first()
        if current is not None:
            raise bad_request(
                f"The image '{without_digest(image)}' with digest '{digest}' is not approved by "
                f"this store; the approved version has digest '{current.digest}'"
            )
    return pinned


@router.get("/algorithm", summary="List algorithms (approved ones unless a flag says else)")
def list_algorithms(
    request: Request,
    ctx: Ctx,
    session: Db,
    name: str | None = None,
    description: str | None = None,
    image: str | None = None,
    partitioning: str | None = None,
    vantage6_version: str | None = None,
    v6_version: str | None = None,
    developer_id: int | None = None,
    page: int = 1,
    per_page: int = 10,
):
    approved_only = not any(flag(request.query_params.get(f)) for f in _REVIEW_FLAGS)
    check_view(request, ctx, session, approved_only)
    stmt = _status_filter(select(m.Algorithm).options(*ALGORITHM_TREE), request)
    for column, value in (
        (m.Algorithm.name, name),
        (m.Algorithm.description, description),
        (m.Algorithm.partitioning, partitioning),
        (m.Algorithm.vantage6_version, vantage6_version or v6_version),
    ):
        if value is not None:
            stmt = stmt.where(column.like(value))
    if developer_id is not None:
        stmt = stmt.where(m.Algorithm.developer_id == developer_id)
    if image is not None:
        stmt = _image_filter(stmt, session, image)
    return page_response(
        request,
        session,
        stmt,
        serialize.algorithm,
        default_order=[m.Algorithm.id],
        page=page,
        per_page=per_page,
    )


def _get(session, id: int) -> m.Algorithm:
    algo = session.get(m.Algorithm, id, options=ALGORITHM_TREE)
    if algo is None:
        raise not_found("Algorithm", id)
    return algo


@router.get("/algorithm/{id}", summary="View an algorithm")
def get_algorithm(id: int, request: Request, ctx: Ctx, session: Db) -> dict:
    algo = _get(session, id)
    check_view(request, ctx, session, approved_only=algo.status == workflow.APPROVED)
    return serialize.algorithm(algo)


@router.get("/algorithm/{id}/history", summary="Status transitions of an algorithm")
def algorithm_history(id: int, request: Request, ctx: Ctx, session: Db) -> dict:
    algo = _get(session, id)
    check_view(request, ctx, session, approved_only=algo.status == workflow.APPROVED)
    return {"data": [serialize.event(e) for e in algo.events]}


def _functions(functions: list[FunctionIn]) -> list[m.Function]:
    out = []
    for fn in functions:
        arguments = {
            a.name: m.Argument(
                name=a.name,
                display_name=a.display_name or "",
                description=a.description or "",
                type_=a.type,
                has_default_value=a.has_default_value,
                default_value=a.stored_default(),
                conditional_operator=a.conditional_operator,
                conditional_value=None if a.conditional_value is None else str(a.conditional_value),
                is_frontend_only=a.is_frontend_only,
                allowed_values=[
                    m.AllowedArgumentValue(value=str(v)) for v in a.allowed_values or []
                ],
            )
            for a in fn.arguments
        }
        for a in fn.arguments:
            if a.conditional_on:
                arguments[a.name].conditional_argument = arguments[a.conditional_on]
        out.append(
            m.Function(
                name=fn.name,
                display_name=fn.display_name or "",
                description=fn.description or "",
                type_=fn.type,
                standalone=fn.standalone,
                databases=[
                    m.FunctionDatabase(name=d.name, description=d.description or "")
                    for d in fn.databases
                ],
                arguments=list(arguments.values()),
                ui_visualizations=[
                    m.UIVisualization(
                        name=v.name,
                        description=v.description or "",
                        type_=v.type,
                        schema=v.schema_ or {},
                    )
                    for v in fn.ui_visualizations
                ],
            )
        )
    return out


def resolve_image(ctx: StoreContext, image: str) -> tuple[str, str | None]:
    """(image without a pin, digest): a pinned digest is kept, else the resolver is asked."""
    pinned = split_reference(image)[3]
    if pinned:
        return without_digest(image), pinned
    try:
        return image, ctx.resolve_digest(image)
    except Exception:  # a resolver that fails resolves nothing
        return image, None


@router.post("/algorithm", status_code=201, summary="Submit an algorithm for review")
def create_algorithm(
    body: AlgorithmIn, ctx: Ctx, session: Db, user=needs("algorithm", rbac.CREATE)
) -> dict:
    image, digest = resolve_image(ctx, body.image)
    algo = m.Algorithm(
        name=body.name,
        description=body.description or "",
        image=image,
        digest=digest,
        code_url=body.code_url,
        documentation_url=body.documentation_url,
        partitioning=body.partitioning,
        vantage6_version=body.vantage6_version,
        submission_comments=body.submission_comments,
        submitted_at=m.utcnow(),
        developer=user,
        functions=_functions(body.functions),
    )
    workflow.submit(algo, user)
    session.add(algo)
    session.commit()
    return serialize.algorithm(algo)


@router.patch("/algorithm/{id}", summary="Edit an algorithm that is not reviewed yet")
def edit_algorithm(
    id: int, body: AlgorithmPatch, ctx: Ctx, session: Db, user=needs("algorithm", rbac.EDIT)
) -> dict:
    algo = _get(session, id)
    if algo.approved_at is not None or algo.invalidated_at is not None:
        raise ApiError(
            403,
            "Approved or invalidated algorithms cannot be edited; submit a new version instead",
        )
    if any(r.submitted_at is not None for r in algo.reviews):
        raise ApiError(403, "This algorithm has a submitted review and can no longer be edited")
    changes = body.model_dump(exclude_unset=True, exclude={"functions", "refresh_digest", "image"})
    for field, value in changes.items():
        if value is not None:
            setattr(algo, field, value)
    if (body.image and body.image != algo.image) or body.refresh_digest:
        algo.image, algo.digest = resolve_image(ctx, body.image or algo.image)
    if body.functions is not None:
        algo.functions = _functions(body.functions)
    session.commit()
    return serialize.algorithm(algo)


@router.post("/algorithm/{id}/invalidate", summary="Invalidate (remove) an algorithm")
def invalidate_algorithm(id: int, session: Db, user=needs("algorithm", rbac.DELETE)) -> dict:
    algo = _get(session, id)
    workflow.remove(algo, user)
    session.commit()
    return {"msg": f"Algorithm id={id} was successfully invalidated"}


@router.delete("/algorithm/{id}", summary="Delete an algorithm and its metadata")
def delete_algorithm(id: int, session: Db, user=needs("algorithm", rbac.DELETE)) -> dict:
    session.delete(_get(session, id))
    session.commit()
    return {"msg": f"Algorithm id={id} was successfully deleted"}
