"""One writer at a time on a SQLite database, queued in the process instead of in SQLite.

SQLite lets one transaction write at a time. A second writer gets ``SQLITE_BUSY`` and its busy
handler sleeps 1, 2, 5, 10, 15, 20, 25 ... ms between tries, so at a burst of writes (every
node of a task reporting at once) a request can sleep for tens of milliseconds after the
database is free again. A lock taken at a connection's first write and given back when the
connection returns to the pool (after its commit or rollback) hands the database from one
writer to the next at once. The busy timeout stays as a fallback (writers in other processes,
or a lock not obtained within ``LOCK_TIMEOUT``).
"""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import Engine, event

#: statements that take SQLite's write lock
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER")
#: seconds to wait for the lock before writing anyway (SQLite's own busy wait takes over)
LOCK_TIMEOUT = 30.0


def serialize_writes(engine: Engine) -> threading.Lock:
    """Install the write lock on ``engine``; returns the lock (for tests)."""
    lock = threading.Lock()
    holding = f"v6_write_lock_{id(lock)}"  # key in the pooled connection's info

    @event.listens_for(engine, "before_cursor_execute")
    def _take(conn, _cursor, statement: str, *_args: Any) -> None:
        info = conn.connection.info  # per pooled DBAPI connection
        if info.get(holding) or not statement.lstrip()[:7].upper().startswith(_WRITES):
            return
        info[holding] = lock.acquire(timeout=LOCK_TIMEOUT)

    def _give_back(_dbapi_conn, record, *_args: Any) -> None:
        if record.info.pop(holding, False):
            lock.release()

    # back in the pool (after commit or rollback), or dropped after an error
    event.listen(engine, "checkin", _give_back)
    event.listen(engine, "invalidate", _give_back)

    return lock
