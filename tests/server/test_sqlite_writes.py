"""SQLite writers queue on a lock in the process (not in SQLite's sleeping busy handler)."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from vantage6_common.service.database import make_engine
from vantage6_server.db.sqlite_writes import serialize_writes


@pytest.fixture
def engine_and_lock(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'w.db'}")
    lock = serialize_writes(engine)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER)"))
        conn.execute(text("INSERT INTO counter VALUES (1, 0)"))
    assert not lock.locked()
    yield engine, lock
    engine.dispose()


def test_concurrent_writers_all_land_and_never_wait_long(engine_and_lock) -> None:
    engine, lock = engine_and_lock
    slowest: list[float] = []
    errors: list[Exception] = []

    def writer() -> None:
        for _ in range(30):
            started = time.perf_counter()
            try:
                with engine.begin() as conn:
                    conn.execute(text("UPDATE counter SET n = n + 1 WHERE id = 1"))
                    sum(range(20_000))  # work inside the transaction, as a request does
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)
            slowest.append(time.perf_counter() - started)

    threads = [threading.Thread(target=writer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with engine.connect() as conn:
        assert conn.execute(text("SELECT n FROM counter")).scalar() == 240
    assert not lock.locked()
    # SQLite's busy handler alone lets single writers sleep 100 ms and more here
    assert max(slowest) < 1.0


def test_lock_is_released_after_rollback_and_after_reads_only(engine_and_lock) -> None:
    engine, lock = engine_and_lock
    with Session(engine) as session:
        session.execute(text("SELECT n FROM counter")).scalar()
        assert not lock.locked()  # reading takes no lock
        session.execute(text("UPDATE counter SET n = 5"))
        assert lock.locked()
        session.rollback()
        assert not lock.locked()
    with pytest.raises(RuntimeError), engine.begin() as conn:
        conn.execute(text("UPDATE counter SET n = 7"))
        raise RuntimeError("the request failed half way")
    assert not lock.locked()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT n FROM counter")).scalar() == 0


def test_session_closed_by_another_thread_gives_the_lock_back(engine_and_lock) -> None:
    """FastAPI closes a request's session on the event loop, not in the request's thread."""
    engine, lock = engine_and_lock
    session = Session(engine)
    worker = threading.Thread(target=lambda: session.execute(text("UPDATE counter SET n = 1")))
    worker.start()
    worker.join()
    assert lock.locked()
    session.close()  # rolls back the unfinished write
    assert not lock.locked()
