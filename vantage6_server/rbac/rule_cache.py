"""A per-process cache of each user's rule keys, emptied by every write to the tables they
come from.

Reading a user's rules is most of the cost of authenticating a request. Their source is the
``role``, ``rule``, ``user_role``, ``role_rule`` and ``user_rule`` tables; deleting a user or an
organization removes rows of them too (cascades in the database). Every such write through
this process's engine moves a generation counter on, once when
the statement runs and once more when its connection goes back to the pool (after the commit or
rollback), so a reader that read before the commit does not keep what it read. An entry is only
used while the generation it was read under is the current one, and for ``MAX_AGE_S`` at most.

The cache sees only this process's writes, so it is installed only when the server is the
only one on its database (no ``rabbitmq_uri``, see ``app.create_app``). Whether a token is
still valid (its subject's row, ``token_key`` and ``token_version``) is never cached.
"""

from __future__ import annotations

import re
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

RuleKey = tuple[str, str, str]

#: an entry older than this is read again even without a write seen here
MAX_AGE_S = 60.0
#: entries kept (the cache is emptied when it grows past this)
MAX_ENTRIES = 10_000
# any write to these changes someone's rules
_RULE_TABLES = frozenset({"role", "rule", "user_role", "role_rule", "user_rule"})
# deleting from these removes rows of the tables above (ON DELETE CASCADE in the database)
_CASCADE_TABLES = frozenset({"user", "organization"})
_WRITE = re.compile(
    r'\s*(INSERT\s+(?:OR\s+\w+\s+)?INTO|UPDATE|DELETE\s+FROM)\s+"?(\w+)"?', re.IGNORECASE
)


def _writes_source(statement: str) -> bool:
    match = _WRITE.match(statement)
    if match is None:
        return False
    table = match.group(2).lower()
    return table in _RULE_TABLES or (table in _CASCADE_TABLES and match.group(1)[:1].upper() == "D")


class UserRuleCache:
    """user id -> rule keys, valid while no write to their tables was seen."""

    def __init__(self) -> None:
        self.generation = 0
        self._entries: dict[int, tuple[int, float, frozenset[RuleKey]]] = {}
        self._lock = threading.Lock()
        self._marker = f"v6_rbac_write_{id(self)}"  # key in a pooled connection's info

    def invalidate(self) -> None:
        with self._lock:
            self.generation += 1
            self._entries.clear()

    def get(
        self, user_id: int, generation: int, read: Callable[[], frozenset[RuleKey]]
    ) -> frozenset[RuleKey]:
        """The cached keys of ``user_id``, or ``read()``.

        ``generation`` is this cache's generation taken before the transaction that ``read``
        uses began: what it reads is stored under that generation, so a write committed in
        between makes the entry unusable at once.
        """
        now = time.monotonic()
        entry = self._entries.get(user_id)
        if entry is not None and entry[0] == self.generation and now - entry[1] < MAX_AGE_S:
            return entry[2]
        keys = read()
        with self._lock:
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
            self._entries[user_id] = (generation, now, keys)
        return keys

    def watch(self, engine: Engine) -> None:
        """Move the generation on at every write to the rule tables through ``engine``."""

        @event.listens_for(engine, "before_cursor_execute")
        def _on_write(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            if _writes_source(statement):
                conn.connection.info[self._marker] = True
                self.invalidate()

        def _after_transaction(_dbapi_conn: Any, record: Any, *_args: Any) -> None:
            if record.info.pop(self._marker, False):
                self.invalidate()

        event.listen(engine, "checkin", _after_transaction)
        event.listen(engine, "invalidate", _after_transaction)


_CACHES: weakref.WeakKeyDictionary[Engine, UserRuleCache] = weakref.WeakKeyDictionary()


def install(engine: Engine) -> UserRuleCache:
    """Cache users' rule keys read through ``engine`` (one server process on the database)."""
    cache = _CACHES.get(engine)
    if cache is None:
        cache = UserRuleCache()
        cache.watch(engine)
        _CACHES[engine] = cache
    return cache


def ticket(session: Session) -> tuple[UserRuleCache, int] | None:
    """The cache of the session's database and its generation, taken before the session's
    first read; None without a cache, or when the session's transaction already began."""
    cache = _CACHES.get(session.get_bind())
    if cache is None or session.in_transaction():
        return None
    return cache, cache.generation


def rule_keys(
    taken: tuple[UserRuleCache, int] | None,
    user_id: int,
    read: Callable[[], frozenset[RuleKey]],
) -> frozenset[RuleKey]:
    """A user's rule keys from the cache of ``taken`` (see ``ticket``), else ``read()``."""
    if taken is None:
        return read()
    cache, generation = taken
    return cache.get(user_id, generation, read)
