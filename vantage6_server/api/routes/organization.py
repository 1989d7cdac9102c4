"""/organization: list, view, create, edit, delete."""

from __future__ import annotations

import base64
import binascii
from types import SimpleNamespace

from fastapi import APIRouter, Query, Request
from pydantic import Field, field_validator
from sqlalchemy import bindparam, delete, insert, select

from vantage6_common.service.pagination import page_response
from vantage6_server import serialize
from vantage6_server.api.common import Body, get_or_404, parse_bool
from vantage6_server.api.deps import Auth, Ctx, Db, UserAuth
from vantage6_server.api.errors import bad_request
from vantage6_server.api.schemas import Message, Organization, OrganizationView, answers, page_of
from vantage6_server.db import models as m
from vantage6_server.rbac import policy
from vantage6_server.rbac.catalog import Operation

router = APIRouter(tags=["Organization"])
_ORGANIZATION = m.Organization.__table__
# built once (with bound parameters) so that SQLAlchemy finds their compiled form again
_NAME_TAKEN = select(_ORGANIZATION.c.id).where(_ORGANIZATION.c.name == bindparam("name")).limit(1)
_INSERT = insert(_ORGANIZATION)
SORTABLE = {"id": m.Organization.id, "name": m.Organization.name, "country": m.Organization.country}


class OrganizationIn(Body):
    name: str = Field(min_length=1, max_length=128)
    address1: str | None = Field(None, max_length=256)
    address2: str | None = Field(None, max_length=256)
    zipcode: str | None = Field(None, max_length=64)
    country: str | None = Field(None, max_length=128)
    domain: str | None = Field(None, max_length=256)
    public_key: str | None = Field(None, max_length=20000)

    @field_validator("public_key")
    @classmethod
    def _b64_pem(cls, value: str | None) -> str | None:
        if value:
            try:
                pem = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ValueError("must be base64 of a PEM public key") from exc
            if b"PUBLIC KEY" not in pem:
                raise ValueError("must be base64 of a PEM public key")
        return value


class OrganizationPatch(OrganizationIn):
    name: str | None = Field(None, min_length=1, max_length=128)


@router.get("/organization", summary="List organizations", **page_of(Organization))
def list_organizations(
    request: Request,
    principal: Auth,
    session: Db,
    name: str | None = None,
    country: str | None = None,
    collaboration_id: int | None = None,
    study_id: int | None = None,
    ids: list[int] | None = Query(None),
    page: int = 1,
    per_page: int = 10,
    sort: str | None = None,
):
    # the table's columns: rows, not objects (``serialize.organization`` reads only columns)
    stmt = policy.visible(principal, "organization", select(*_ORGANIZATION.c))
    if name:
        stmt = stmt.where(m.Organization.name.like(name))
    if country:
        stmt = stmt.where(m.Organization.country.like(country))
    if collaboration_id is not None:  # the members of a collaboration the caller may see
        collab = policy.visible_ids(principal, "collaboration", m.Collaboration.id).where(
            m.Collaboration.id == collaboration_id
        )
        members = select(m.collaboration_organization.c.organization_id).where(
            m.collaboration_organization.c.collaboration_id.in_(collab)
        )
        stmt = stmt.where(m.Organization.id.in_(members))
    if study_id is not None:
        stmt = stmt.where(m.Organization.studies.any(m.Study.id == study_id))
    if ids:
        stmt = stmt.where(m.Organization.id.in_(ids))
    return page_response(
        request,
        session,
        stmt,
        serialize.organization,
        page=page,
        per_page=per_page,
        sort_columns=SORTABLE,
        sort=sort,
        default_order=[m.Organization.id],
        rows=True,
    )


@router.get("/organization/{id}", summary="View an organization", **answers(OrganizationView))
def get_organization(id: int, principal: Auth, session: Db) -> dict:
    org = get_or_404(session, m.Organization, id, "Organization")
    policy.ensure(principal, Operation.VIEW, "organization", org)
    return {**serialize.organization(org), "encryption_schemes": encryption_schemes(org)}


def encryption_schemes(org: m.Organization) -> list[str]:
    """Payload formats every node of the organization reads (from ``node_info_update``).

    Information only: which format a value is written in is declared on the collaboration
    (``encryption_scheme``), never chosen from this list, which changes as nodes come and go.
    A node that never reported counts as reading nothing; empty when no node reported.
    """
    common: set[str] | None = None
    for node in org.nodes:
        reported = (node.config or {}).get("encryption_schemes")
        schemes = {str(s) for s in reported} if isinstance(reported, list) else set()
        common = schemes if common is None else common & schemes
    return sorted(common or set())


@router.post(
    "/organization", status_code=201, summary="Create an organization", **answers(Organization, 201)
)
def create_organization(body: OrganizationIn, user: UserAuth, session: Db) -> dict:
    policy.ensure(user, Operation.CREATE, "organization")
    if session.scalar(_NAME_TAKEN, {"name": body.name}):
        raise bad_request(f"Organization with name '{body.name}' already exists")
    # a Core INSERT: the ORM's unit of work costs more than the rest of the request
    values = body.model_dump()
    new_id = session.execute(_INSERT, values).inserted_primary_key[0]
    session.commit()
    return serialize.organization(SimpleNamespace(id=new_id, **values))


@router.patch("/organization/{id}", summary="Edit an organization", **answers(Organization))
def patch_organization(id: int, body: OrganizationPatch, principal: Auth, session: Db) -> dict:
    org = get_or_404(session, m.Organization, id, "Organization")
    policy.ensure(principal, Operation.EDIT, "organization", org)
    changes = body.model_dump(exclude_unset=True)
    if "public_key" in changes and changes["public_key"] != org.public_key:
        policy.ensure_key_change(principal, org)
    if principal.is_node and set(changes) - {"public_key"}:
        raise bad_request("Nodes may only change the public key")
    if "name" in changes:
        if changes["name"] is None:
            raise bad_request("name cannot be empty", {"name": ["cannot be null"]})
        clash = session.scalar(
            select(m.Organization.id).where(
                m.Organization.name == changes["name"], m.Organization.id != org.id
            )
        )
        if clash:
            raise bad_request(f"Organization with name '{changes['name']}' already exists")
    for key, value in changes.items():
        setattr(org, key, value)
    session.commit()
    return serialize.organization(org)


@router.delete("/organization/{id}", summary="Delete an organization", **answers(Message))
def delete_organization(
    id: int, user: UserAuth, ctx: Ctx, session: Db, delete_dependents: str | None = None
) -> dict:
    org = get_or_404(session, m.Organization, id, "Organization")
    policy.ensure(user, Operation.DELETE, "organization", org)
    if id == user.organization_id:
        raise bad_request("You cannot delete your own organization")
    has_dependents = bool(org.users or org.nodes or org.collaborations)
    if has_dependents and not parse_bool(delete_dependents):
        raise bad_request(
            "Organization has users, nodes or collaborations; "
            "add ?delete_dependents=true to delete them too"
        )
    members = [u.id for u in org.users]
    session.execute(delete(m.Run).where(m.Run.organization_id == org.id))
    session.delete(org)
    session.commit()
    ctx.events.disconnect_users(members)
    return {"msg": f"Organization id={id} has been deleted"}
