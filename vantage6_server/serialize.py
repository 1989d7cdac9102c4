"""Models to vantage6 4.x JSON shapes (related objects as id/link stubs, lists as links)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from vantage6_server.db import models as m

API = "/api"


def _blob_fields(rn: m.Run) -> dict[str, Any]:
    """Every run and result carries these in vantage6 4.14; its node and proxy index them
    directly. With ``blob_storage_used`` the input and result are blob uuids (fetched from
    ``/blobstream`` when wanted); this server schedules no clean-up of results."""
    return {"blob_storage_used": bool(rn.blob_storage_used), "cleanup_at": None}


def stub(resource: str, id_: int | None, methods: tuple[str, ...] = ("GET", "PATCH", "DELETE")):
    if id_ is None:
        return None
    return {"id": id_, "link": f"{API}/{resource}/{id_}", "methods": list(methods)}


def link(resource: str, field: str, id_: int) -> str:
    return f"{API}/{resource}?{field}={id_}"


def iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def organization(org: m.Organization) -> dict[str, Any]:
    return {
        "id": org.id,
        "name": org.name,
        "domain": org.domain,
        "address1": org.address1,
        "address2": org.address2,
        "zipcode": org.zipcode,
        "country": org.country,
        "public_key": org.public_key or "",
        "collaborations": link("collaboration", "organization_id", org.id),
        "nodes": link("node", "organization_id", org.id),
        "users": link("user", "organization_id", org.id),
        "tasks": link("task", "init_org_id", org.id),
        "runs": link("run", "organization_id", org.id),
        "studies": link("study", "organization_id", org.id),
    }


def collaboration(collab: m.Collaboration, include_orgs: bool = False) -> dict[str, Any]:
    return {
        "id": collab.id,
        "name": collab.name,
        "encrypted": collab.encrypted,
        "session_restrict_to_same_image": collab.session_restrict_to_same_image,
        "encryption_scheme": collab.encryption_scheme,
        "organizations": (
            [organization(o) for o in collab.organizations]
            if include_orgs
            else link("organization", "collaboration_id", collab.id)
        ),
        "nodes": link("node", "collaboration_id", collab.id),
        "tasks": link("task", "collaboration_id", collab.id),
        "algorithm_stores": link("algorithmstore", "collaboration_id", collab.id),
        "studies": link("study", "collaboration_id", collab.id),
    }


def study(st: m.Study, include_orgs: bool = False) -> dict[str, Any]:
    return {
        "id": st.id,
        "name": st.name,
        "collaboration": stub("collaboration", st.collaboration_id),
        "organizations": (
            [organization(o) for o in st.organizations]
            if include_orgs
            else link("organization", "study_id", st.id)
        ),
        "tasks": link("task", "study_id", st.id),
    }


def node(nd: m.Node) -> dict[str, Any]:
    config = [
        {"key": k, "value": v, "node_id": nd.id}
        for k, values in (nd.config or {}).items()
        for v in (values if isinstance(values, list) else [values])
    ]
    return {
        "id": nd.id,
        "name": nd.name,
        "type": "node",
        "status": nd.status,
        "ip": nd.ip,
        "last_seen": iso(nd.last_seen),
        "organization": stub("organization", nd.organization_id),
        "collaboration": stub("collaboration", nd.collaboration_id),
        "config": config,
    }


def user(usr: m.User, with_permissions: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": usr.id,
        "type": "user",
        "username": usr.username,
        "email": usr.email,
        "firstname": usr.firstname,
        "lastname": usr.lastname,
        "organization": stub("organization", usr.organization_id),
        "roles": link("role", "user_id", usr.id),
        "rules": link("rule", "user_id", usr.id),
    }
    if with_permissions:
        orgs = {o.id for c in usr.organization.collaborations for o in c.organizations}
        out["permissions"] = {
            "roles": [r.id for r in usr.roles],
            "rules": sorted({r.id for r in usr.rules} | {r.id for x in usr.roles for r in x.rules}),
            "orgs_in_collabs": sorted(orgs),
        }
    return out


def role(rl: m.Role) -> dict[str, Any]:
    return {
        "id": rl.id,
        "name": rl.name,
        "description": rl.description,
        "organization": stub("organization", rl.organization_id),
        "rules": link("rule", "role_id", rl.id),
        "users": link("user", "role_id", rl.id),
    }


def rule(rl: m.Rule) -> dict[str, Any]:
    return {
        "id": rl.id,
        "name": rl.name,
        "operation": rl.operation.upper(),
        "scope": rl.scope.upper(),
        "description": rl.description,
        "users": link("user", "rule_id", rl.id),
        "roles": link("role", "rule_id", rl.id),
    }


def task(
    tk: m.Task, runs: list[m.Run] | None = None, results: list[m.Run] | None = None
) -> dict[str, Any]:
    """A task; ``runs`` and ``results`` embed those runs (the caller decides which it may see)."""
    out: dict[str, Any] = {
        "id": tk.id,
        "name": tk.name,
        "description": tk.description,
        "image": tk.image,
        "status": tk.status,
        "job_id": tk.job_id,
        "created_at": iso(tk.created_at),
        "finished_at": iso(_finished_at(tk)),
        "collaboration": stub("collaboration", tk.collaboration_id),
        "study": stub("study", tk.study_id),
        "parent": stub("task", tk.parent_id, ("GET", "DELETE")),
        "init_org": stub("organization", tk.init_org_id),
        "init_user": stub("user", tk.init_user_id),
        "algorithm_store": stub("algorithmstore", tk.algorithm_store_id),
        "databases": [
            {"label": d.get("label"), "parameters": _json_text(d.get("parameters"))}
            for d in tk.databases or []
        ],
        "runs": link("run", "task_id", tk.id),
        "results": link("result", "task_id", tk.id),
        "children": link("task", "parent_id", tk.id),
    }
    if runs is not None:
        out["runs"] = [run(r) for r in runs]
    if results is not None:
        out["results"] = [result(r) for r in results]
    return out


def _json_text(parameters: dict | None) -> str:
    """A database's parameters as vantage6 sends them: JSON text (the 4.x node parses it)."""
    return json.dumps(parameters or {}, separators=(",", ":"))


def _finished_at(tk: m.Task) -> dt.datetime | None:
    if tk.status in ("pending", "initializing", "active"):
        return None
    times = [r.finished_at for r in tk.runs if r.finished_at]
    return max(times) if times else None


def run(rn: m.Run, include_task: bool = False, node_stub: dict | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": rn.id,
        "input": rn.input,
        "log": rn.log,
        "status": rn.status,
        "assigned_at": iso(rn.assigned_at),
        "started_at": iso(rn.started_at),
        "finished_at": iso(rn.finished_at),
        "organization": stub("organization", rn.organization_id),
        "task": task(rn.task) if include_task else stub("task", rn.task_id, ("GET", "DELETE")),
        "results": stub("result", rn.id, ("GET", "PATCH")),
        "node": node_stub,
        "ports": [],
        **_blob_fields(rn),
    }
    return out


def result(rn: m.Run) -> dict[str, Any]:
    return {
        "id": rn.id,
        "result": rn.result,
        "run": stub("run", rn.id, ("GET", "PATCH")),
        "task": stub("task", rn.task_id, ("GET", "DELETE")),
        **_blob_fields(rn),
    }
