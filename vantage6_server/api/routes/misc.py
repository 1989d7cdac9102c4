"""Health, version, and the paths of features this server does not offer yet.

VPN and column discovery answer
``400 {"msg": "... not enabled"}`` (never a 5xx), or an empty answer where the
published vantage6 client or node calls it routinely (the node removes a run's VPN
ports after every run).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import select, text

from vantage6_common import WIRE_VERSION
from vantage6_common.service.pagination import page_response
from vantage6_server.api.common import get_or_404
from vantage6_server.api.deps import Auth, Ctx, Db, NodeAuth
from vantage6_server.api.errors import ApiError, ErrorBody, bad_request, forbidden
from vantage6_server.api.schemas import (
    Empty,
    Health,
    Message,
    Version,
    VpnAddresses,
    answers,
    page_of,
    refuses,
)
from vantage6_server.db import models as m

router = APIRouter(tags=["Server"])


NOT_ENABLED = "Not enabled on this server"


def not_enabled(feature: str) -> ApiError:
    return ApiError(400, f"{feature} is not enabled on this server")


@router.get("/version", summary="Server version", **answers(Version))
async def version() -> dict:
    return {"version": WIRE_VERSION}


@router.get(
    "/health",
    summary="Health of the server and its database",
    **answers(
        Health, others={503: {"model": ErrorBody, "description": "The database cannot be reached"}}
    ),
)
def health(ctx: Ctx, session: Db) -> dict:
    try:
        session.execute(text("SELECT 1"))
        ok = True
    except Exception:  # noqa: BLE001 - any database failure means unhealthy
        ok = False
    if not ok:
        raise ApiError(503, "database unreachable")
    return {"database": True}


@router.get(
    "/vpn/algorithm/addresses",
    summary="VPN addresses of algorithm containers",
    **answers(VpnAddresses),
)
def vpn_addresses(principal: Auth) -> dict:
    return {"addresses": []}


@router.get("/port", summary="VPN ports of algorithm runs", **page_of(Empty))
def list_ports(request: Request, principal: Auth, session: Db):
    return page_response(request, session, select(m.Run).where(m.Run.id == -1), lambda r: {})


@router.post("/port", summary="Register a VPN port (not enabled)", **refuses(400, NOT_ENABLED))
def add_port(principal: Auth) -> dict:
    raise not_enabled("VPN")


@router.delete("/port", summary="Remove the VPN ports of a run (its node only)", **answers(Message))
def delete_ports(node: NodeAuth, session: Db, run_id: int | None = None) -> dict:
    """The 4.x node calls this after every run; without VPN a run has no ports to remove."""
    if run_id is None:
        raise bad_request("run_id is required", {"run_id": ["required"]})
    run = get_or_404(session, m.Run, run_id, "Run")
    if (
        run.organization_id != node.organization_id
        or run.task.collaboration_id != node.collaboration_id
    ):
        raise forbidden("This run belongs to another node")
    return {"msg": f"Run id={run_id} has no VPN ports (VPN is not enabled on this server)"}


@router.post(
    "/column", summary="Column names of a node database (not enabled)", **refuses(400, NOT_ENABLED)
)
def columns(principal: Auth) -> dict:
    raise not_enabled("Column discovery")
