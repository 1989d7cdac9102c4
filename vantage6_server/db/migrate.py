"""Where the server's Alembic migrations live.

``python -m vantage6_server.db.migrate URI MESSAGE`` autogenerates a new one from the models.
"""

from __future__ import annotations

from pathlib import Path

from vantage6_common.service.migrate import new_revision

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

if __name__ == "__main__":  # pragma: no cover - developer tool
    new_revision(MIGRATIONS_DIR)
