"""First-start setup: rules and default roles, and the configured root user's server."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from vantage6_store import rbac
from vantage6_store.db import models as m
from vantage6_store.settings import RootUser


def ensure_root(session: Session, root: RootUser | None) -> None:
    """Whitelist the root user's server and give the root user the Root role (once)."""
    if root is None:
        return
    url = root.v6_server_uri.rstrip("/")
    server = session.scalars(select(m.Vantage6Server).where(m.Vantage6Server.url == url)).first()
    if server is None:
        server = m.Vantage6Server(url=url)
        session.add(server)
        session.flush()
    user = session.scalars(
        select(m.StoreUser).where(
            m.StoreUser.username == root.username, m.StoreUser.v6_server_id == server.id
        )
    ).first()
    root_role = rbac.default_role(session, rbac.ROOT)
    if user is None:
        user = m.StoreUser(
            username=root.username,
            email=root.email,
            organization_id=root.organization_id,
            server=server,
            roles=[root_role],
        )
        session.add(user)
    elif root_role not in user.roles:
        user.roles.append(root_role)
    session.commit()
