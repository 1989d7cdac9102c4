"""Single-use refresh tokens: each refresh spends the presented token of its family.

A login hands out generation 0 of a new family without writing anything; the first refresh
records the family, every refresh moves it one generation on. A token of an older generation
(or a second use of generation 0) is a copy: the caller revokes every token of the subject.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vantage6_server.db import models as m

#: a family outlives its newest token a little, so that no valid token finds it gone
MARGIN = dt.timedelta(minutes=1)


def spend(session: Session, family: str, generation: int, expires_at: dt.datetime) -> bool:
    """Spend token ``generation`` of ``family``; False when it was spent before.

    ``expires_at`` is when the token issued next expires. The caller commits.
    """
    now = m.utcnow()
    until = expires_at + MARGIN
    session.execute(delete(m.RefreshFamily).where(m.RefreshFamily.expires_at < now))
    if generation == 0:
        if session.get(m.RefreshFamily, family) is not None:
            return False
        session.add(m.RefreshFamily(id=family, generation=1, expires_at=until))
        try:
            session.flush()
        except IntegrityError:  # the same token, spent at the same moment by another request
            session.rollback()
            return False
        return True
    result = session.execute(
        update(m.RefreshFamily)
        .where(m.RefreshFamily.id == family, m.RefreshFamily.generation == generation)
        .values(generation=generation + 1, expires_at=until)
    )
    return result.rowcount == 1


def revoke_subject(session: Session, kind: str, subject_id: int) -> None:
    """End every token of a user (new token version) or a node (new token key)."""
    if kind == "user":
        session.execute(
            update(m.User)
            .where(m.User.id == subject_id)
            .values(token_version=m.User.token_version + 1)
        )
    elif kind == "node":
        session.execute(
            update(m.Node).where(m.Node.id == subject_id).values(token_key=m.new_token_key())
        )
