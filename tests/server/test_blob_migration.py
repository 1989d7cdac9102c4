"""Migration 0004_blobs on SQLite and PostgreSQL: existing runs keep their data in the row."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect, text

from tests.livestack import create_pg_database, drop_pg_database
from vantage6_common.service.migrate import alembic_config
from vantage6_server.db.migrate import MIGRATIONS_DIR


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_existing_runs_do_not_use_blobs_and_the_migration_goes_back(
    tmp_path: Path, backend: str
) -> None:
    pg_name = None
    if backend == "postgresql":
        uri, pg_name = create_pg_database()
    else:
        uri = f"sqlite:///{tmp_path / 'old.sqlite'}"
    engine = create_engine(uri)
    try:
        config = alembic_config(MIGRATIONS_DIR, uri)
        command.upgrade(config, "0003_encryption_scheme")
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO organization (name) VALUES ('o')"))
            conn.execute(
                text(
                    "INSERT INTO collaboration (name, encrypted, session_restrict_to_same_image)"
                    " VALUES ('c', false, false)"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO task (image, collaboration_id, job_id, status, token_key, "
                    "created_at) VALUES ('img', 1, 1, 'pending', 'k', CURRENT_TIMESTAMP)"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO run (task_id, organization_id, input, status, assigned_at) "
                    "VALUES (1, 1, 'aW5wdXQ=', 'pending', CURRENT_TIMESTAMP)"
                )
            )
        command.upgrade(config, "head")
        with engine.connect() as conn:
            row = conn.execute(text("SELECT input, blob_storage_used FROM run")).one()
        assert tuple(row) == ("aW5wdXQ=", False)
        assert "blob" in inspect(engine).get_table_names()
        command.downgrade(config, "0003_encryption_scheme")
        engine.dispose()
        assert "blob" not in inspect(engine).get_table_names()
        assert "blob_storage_used" not in {c["name"] for c in inspect(engine).get_columns("run")}
    finally:
        engine.dispose()
        if pg_name:
            drop_pg_database(pg_name)
