"""First-start setup: rules, default roles, the root account and the JWT secret."""

from __future__ import annotations

import logging
import os
import secrets
import sys
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from vantage6_server.db import models as m
from vantage6_server.rbac.catalog import DEFAULT_ROLES, ROOT, RULES
from vantage6_server.rbac.principal import forget_rule_names
from vantage6_server.security.passwords import hash_password, password_problems

log = logging.getLogger(__name__)
ROOT_USERNAME = "root"
ROOT_ORGANIZATION = "root"


def ensure_rules_and_roles(session: Session) -> None:
    existing = {(r.name, r.scope, r.operation): r for r in session.scalars(select(m.Rule))}
    for spec in RULES:
        key = (spec.resource, spec.scope.value, spec.operation.value)
        if key not in existing:
            rule = m.Rule(
                name=spec.resource,
                scope=spec.scope.value,
                operation=spec.operation.value,
                description=f"{spec.operation.value} {spec.resource} ({spec.scope.value})",
            )
            session.add(rule)
            existing[key] = rule
    session.flush()
    roles = {
        r.name: r for r in session.scalars(select(m.Role).where(m.Role.organization_id.is_(None)))
    }
    for name, (description, keys) in DEFAULT_ROLES.items():
        role = roles.get(name) or m.Role(name=name, organization_id=None)
        role.description = description
        role.rules = [existing[k] for k in keys]
        session.add(role)
    session.commit()
    forget_rule_names(session.get_bind())


def ensure_secret(session: Session, configured: str | None) -> str:
    if configured:
        return configured
    row = session.get(m.ServerSetting, "jwt_secret")
    if row is None:
        row = m.ServerSetting(key="jwt_secret", value=secrets.token_urlsafe(48))
        session.add(row)
        session.commit()
    return row.value


def _initial_root_password() -> tuple[str, bool]:
    """The root password from the environment, or a generated one (second item True)."""
    value = os.environ.get("V6_ROOT_PASSWORD")
    path = os.environ.get("V6_ROOT_PASSWORD_FILE")
    if not value and path:
        value = Path(path).read_text().strip()
    if value:
        problems = password_problems(value)
        if problems:
            raise SystemExit(f"V6_ROOT_PASSWORD is not strong enough: {'; '.join(problems)}")
        return value, False
    generated = secrets.token_urlsafe(18) + "aA1!"
    return generated, True


def ensure_root(session: Session) -> None:
    if session.scalar(select(m.User.id).where(m.User.username == ROOT_USERNAME)):
        return
    org = session.scalar(select(m.Organization).where(m.Organization.name == ROOT_ORGANIZATION))
    if org is None:
        org = m.Organization(name=ROOT_ORGANIZATION, domain="root.local")
        session.add(org)
        session.flush()
    password, generated = _initial_root_password()
    root_role = session.scalar(
        select(m.Role).where(m.Role.name == ROOT, m.Role.organization_id.is_(None))
    )
    session.add(
        m.User(
            username=ROOT_USERNAME,
            email="root@localhost",
            password_hash=hash_password(password),
            organization_id=org.id,
            roles=[root_role],
        )
    )
    session.commit()
    if generated:
        print(
            f"\n  Created user '{ROOT_USERNAME}' with password: {password}\n"
            "  It is shown only this once: store it now.\n",
            file=sys.stderr,
            flush=True,
        )
