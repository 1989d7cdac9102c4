"""A per-process cache of what authenticating a user reads from the database, emptied by every
write to the tables it comes from.

For a user's request the server reads the user's row (organization, ``token_version``,
``token_key``: is the token still valid?) and the user's rule keys; that was most of the cost
of a request. Their source is the ``user``, ``role``, ``rule``, ``user_role``, ``role_rule``
and ``user_rule`` tables; deleting an organization removes users and roles too (cascades in
the database). Every INSERT, UPDATE or DELETE on them through this process's engine moves a
generation counter on, once when the statement runs and once more when its connection goes
back to the pool (after the commit or rollback), so a reader that read before the commit does
not keep what it read. An entry is only used while the generation it was read under is the
current one, and for ``MAX_AGE_S`` at most.

The cache sees only this process's writes, so it is installed only when the server is the
only one on its database (no ``rabbitmq_uri``, see ``app.create_app``); without it every
request reads the database.
"""

from __future__ import annotations

import re
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

RuleKey = tuple[str, str, str]

#: an entry older than this is read again even without a write seen here
MAX_AGE_S = 60.0
#: entries kept (the cache is emptied when it grows past this)
MAX_ENTRIES = 10_000
# any write to these may change a user's token state or rules
_SOURCE_TABLES = frozenset({"user", "role", "rule", "user_role", "role_rule", "user_rule"})
# deleting from this one removes users and roles (ON DELETE CASCADE in the database)
_CASCADE_TABLES = frozenset({"organization"})
_WRITE = re.compile(
    r'\s*(INSERT\s+(?:OR\s+\w+\s+)?INTO|UPDATE|DELETE\s+FROM)\s+"?(\w+)"?', re.IGNORECASE
)


def writes_source(statement: str) -> bool:
    """Whether an SQL statement writes to a table the cached state comes from."""
    match = _WRITE.match(statement)
    if match is None:
        return False
    table = match.group(2).lower()
    return table in _SOURCE_TABLES or (
        table in _CASCADE_TABLES and match.group(1)[:1].upper() == "D"
    )


@dataclass(frozen=True)
class UserState:
    """What a user's token is checked against, and the rules the user holds."""

    organization_id: int
    token_version: int
    token_key: str | None
    rule_keys: frozenset[RuleKey]


class UserCache:
    """user id -> ``UserState``, valid while no write to its tables was seen."""

    def __init__(self) -> None:
        self.generation = 0
        self._entries: dict[int, tuple[int, float, UserState]] = {}
        self._lock = threading.Lock()
        self._marker = f"v6_auth_write_{id(self)}"  # key in a pooled connection's info

    def invalidate(self) -> None:
        with self._lock:
            self.generation += 1
            self._entries.clear()

    def peek(self, user_id: int) -> UserState | None:
        """The state of ``user_id`` if a usable entry holds it."""
        entry = self._entries.get(user_id)
        if entry is None or entry[0] != self.generation or time.monotonic() - entry[1] >= MAX_AGE_S:
            return None
        return entry[2]

    def get(
        self, user_id: int, generation: int, read: Callable[[], UserState | None]
    ) -> UserState | None:
        """The cached state of ``user_id``, or ``read()`` (None: no such user, not kept).

        ``generation`` is this cache's generation taken before the transaction that ``read``
        uses began: what it reads is stored under that generation, so a write committed in
        between makes the entry unusable at once.
        """
        known = self.peek(user_id)
        if known is not None:
            return known
        now = time.monotonic()
        state = read()
        if state is not None:
            with self._lock:
                if len(self._entries) >= MAX_ENTRIES:
                    self._entries.clear()
                self._entries[user_id] = (generation, now, state)
        return state

    def watch(self, engine: Engine) -> None:
        """Move the generation on at every write to the source tables through ``engine``."""

        @event.listens_for(engine, "before_cursor_execute")
        def _on_write(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            if writes_source(statement):
                conn.connection.info[self._marker] = True
                self.invalidate()

        def _after_transaction(_dbapi_conn: Any, record: Any, *_args: Any) -> None:
            if record.info.pop(self._marker, False):
                self.invalidate()

        event.listen(engine, "checkin", _after_transaction)
        event.listen(engine, "invalidate", _after_transaction)


_CACHES: weakref.WeakKeyDictionary[Engine, UserCache] = weakref.WeakKeyDictionary()


def install(engine: Engine) -> UserCache:
    """Cache users' states read through ``engine`` (one server process on the database)."""
    cache = _CACHES.get(engine)
    if cache is None:
        cache = UserCache()
        cache.watch(engine)
        _CACHES[engine] = cache
    return cache


def cache_of(session: Session) -> UserCache | None:
    return _CACHES.get(session.get_bind())


def ticket(session: Session) -> tuple[UserCache, int] | None:
    """The cache of the session's database and its generation, taken before the session's
    first read; None without a cache, or when the session's transaction already began."""
    cache = cache_of(session)
    if cache is None or session.in_transaction():
        return None
    return cache, cache.generation


def user_state(
    taken: tuple[UserCache, int] | None,
    user_id: int,
    read: Callable[[], UserState | None],
) -> UserState | None:
    """A user's state from the cache of ``taken`` (see ``ticket``), else ``read()``."""
    if taken is None:
        return read()
    cache, generation = taken
    return cache.get(user_id, generation, read)
