"""JSON shapes of the store's resources, as vantage6's store 4.x sends them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import selectinload

from vantage6_store.db import models as m

API = "/api"


def link(resource: str, field: str, id_: int) -> str:
    return f"{API}/{resource}?{field}={id_}"


def iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def _allowed_value(argument: m.Argument, value: str) -> Any:
    # numbers come back as numbers for numeric arguments (as 4.x does)
    try:
        if argument.type_ == "integer":
            return int(value)
        if argument.type_ == "float":
            return float(value)
    except ValueError:
        pass
    return value


def argument(arg: m.Argument) -> dict[str, Any]:
    return {
        "id": arg.id,
        "name": arg.name,
        "display_name": arg.display_name,
        "description": arg.description,
        "type": arg.type_,
        "has_default_value": arg.has_default_value,
        "default_value": arg.default_value,
        "conditional_on_id": arg.conditional_on_id,
        "conditional_operator": arg.conditional_operator,
        "conditional_value": arg.conditional_value,
        "is_frontend_only": arg.is_frontend_only,
        "allowed_values": [{"value": _allowed_value(arg, v.value)} for v in arg.allowed_values],
    }


def function(fn: m.Function) -> dict[str, Any]:
    return {
        "id": fn.id,
        "name": fn.name,
        "display_name": fn.display_name,
        "description": fn.description,
        "type": fn.type_,
        "standalone": fn.standalone,
        "databases": [
            {"id": d.id, "name": d.name, "description": d.description} for d in fn.databases
        ],
        "arguments": [argument(a) for a in fn.arguments],
        "ui_visualizations": [
            {
                "id": v.id,
                "name": v.name,
                "description": v.description,
                "type": v.type_,
                "schema": v.schema,
            }
            for v in fn.ui_visualizations
        ],
    }


_FUNCTIONS = selectinload(m.Algorithm.functions)

#: loader options for everything :func:`algorithm` reads: a few queries per page instead of
#: a dozen lazy loads per algorithm
ALGORITHM_TREE = (
    _FUNCTIONS.selectinload(m.Function.databases),
    _FUNCTIONS.selectinload(m.Function.ui_visualizations),
    _FUNCTIONS.selectinload(m.Function.arguments).selectinload(m.Argument.allowed_values),
)


def algorithm(algo: m.Algorithm) -> dict[str, Any]:
    return {
        "id": algo.id,
        "name": algo.name,
        "description": algo.description,
        "image": algo.image,
        "digest": algo.digest,
        "status": algo.status,
        "code_url": algo.code_url,
        "documentation_url": algo.documentation_url,
        "partitioning": algo.partitioning,
        "vantage6_version": algo.vantage6_version,
        "submission_comments": algo.submission_comments,
        "submitted_at": iso(algo.submitted_at),
        "approved_at": iso(algo.approved_at),
        "invalidated_at": iso(algo.invalidated_at),
        "developer_id": algo.developer_id,
        "functions": [function(f) for f in algo.functions],
        "reviews": link("review", "algorithm_id", algo.id),
    }


def event(ev: m.AlgorithmEvent) -> dict[str, Any]:
    return {
        "id": ev.id,
        "algorithm_id": ev.algorithm_id,
        "from_status": ev.from_status,
        "to_status": ev.to_status,
        "user_id": ev.user_id,
        "username": ev.username,
        "at": iso(ev.at),
        "note": ev.note,
    }


def server(srv: m.Vantage6Server, with_users: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {"id": srv.id, "url": srv.url}
    if with_users:
        out["users"] = link("user", "v6_server_id", srv.id)
    return out


def user(usr: m.StoreUser | None) -> dict[str, Any] | None:
    if usr is None:
        return None
    return {
        "id": usr.id,
        "username": usr.username,
        "email": usr.email,
        "organization_id": usr.organization_id,
        "roles": link("role", "user_id", usr.id),
        "algorithm": link("algorithm", "user_id", usr.id),
        "server": server(usr.server, with_users=False),
    }


def review(rev: m.Review) -> dict[str, Any]:
    return {
        "id": rev.id,
        "algorithm_id": rev.algorithm_id,
        "reviewer": user(rev.reviewer),
        "requested_by": user(rev.requested_by),
        "requested_at": iso(rev.requested_at),
        "submitted_at": iso(rev.submitted_at),
        "status": rev.status,
        "comment": rev.comment,
    }


def role(rl: m.Role) -> dict[str, Any]:
    return {
        "id": rl.id,
        "name": rl.name,
        "description": rl.description,
        "is_default_role": rl.is_default_role,
        "rules": link("rule", "role_id", rl.id),
        "users": link("user", "role_id", rl.id),
    }


def rule(rl: m.Rule) -> dict[str, Any]:
    return {"id": rl.id, "name": rl.name, "operation": rl.operation, "description": rl.description}
