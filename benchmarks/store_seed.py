"""Seed the same approved algorithms into an algorithm store's SQLite database.

Our store and vantage6-algorithm-store 4.14 use the same column names for algorithms
and what hangs under them, and the same table names but two: 4.14 names its tables
after its model classes (``allowedargumentvalue``, ``uivisualization``) where ours has
``allowed_argument_value`` and ``ui_visualization``. So one set of INSERTs, with
those two names looked up in the file, fills both with identical rows. Seeding
through the database skips the submission and review workflow (which needs a
whitelisted vantage6 server and two reviewers) and image digest lookups; the rows
are what that workflow would leave behind for an approved algorithm.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

# one timestamp for every row, in SQLAlchemy's SQLite DateTime text format
STAMP = "2026-01-01 12:00:00.000000"
# our table name -> vantage6-algorithm-store 4.14's
TABLES_4_14 = {
    "allowed_argument_value": "allowedargumentvalue",
    "ui_visualization": "uivisualization",
}


def _table_names(cur: sqlite3.Cursor) -> dict[str, str]:
    """Our table name -> the name in this database (which both stores created)."""
    present = {row[0] for row in cur.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    names = {}
    for ours, theirs in TABLES_4_14.items():
        if ours in present:
            names[ours] = ours
        elif theirs in present:
            names[ours] = theirs
        else:
            raise RuntimeError(f"neither {ours} nor {theirs} in the store's database")
    return names


class _Writer:
    """INSERTs under this database's table names."""

    def __init__(self, cur: sqlite3.Cursor) -> None:
        self.cur = cur
        self.names = _table_names(cur)

    def insert(self, table: str, row: dict) -> int:
        """Insert ``row`` (column -> value) and return its id."""
        table = self.names.get(table, table)
        columns = ", ".join(f'"{c}"' for c in row)
        marks = ", ".join("?" for _ in row)
        self.cur.execute(f'INSERT INTO "{table}" ({columns}) VALUES ({marks})', list(row.values()))
        return self.cur.lastrowid


def _seed_function(db: _Writer, algorithm_id: int, name: str, kind: str) -> None:
    function_id = db.insert(
        "function",
        {
            "algorithm_id": algorithm_id,
            "name": name,
            "display_name": name.replace("_", " ").title(),
            "description": f"The {kind} part of the benchmark algorithm",
            "type": kind,
            "standalone": 1,
        },
    )
    db.insert(
        "database",
        {"function_id": function_id, "name": "default", "description": "the node's data"},
    )
    common = {"function_id": function_id, "is_frontend_only": 0}
    db.insert(
        "argument",
        {
            **common,
            "name": "column",
            "display_name": "Column",
            "description": "column to summarise",
            "type": "column",
            "has_default_value": 0,
        },
    )
    db.insert(
        "argument",
        {
            **common,
            "name": "bins",
            "display_name": "Bins",
            "description": "number of bins",
            "type": "integer",
            "has_default_value": 1,
            "default_value": "10",
        },
    )
    statistic = db.insert(
        "argument",
        {
            **common,
            "name": "statistic",
            "display_name": "Statistic",
            "description": "what to compute",
            "type": "string",
            "has_default_value": 1,
            "default_value": "mean",
        },
    )
    for value in ("mean", "median"):
        db.insert("allowed_argument_value", {"argument_id": statistic, "value": value})
    if kind == "central":
        db.insert(
            "ui_visualization",
            {
                "function_id": function_id,
                "name": "summary",
                "description": "the summary as a table",
                "type": "table",
                "schema": '{"columns": ["statistic", "value"]}',
            },
        )


def seed_algorithms(database: Path, count: int) -> None:
    """Add ``count`` approved algorithms, each with a central and a federated function
    (one database, three arguments, two allowed values; a table visualization on the
    central one)."""
    with sqlite3.connect(database, timeout=30) as conn:
        db = _Writer(conn.cursor())
        for i in range(1, count + 1):
            algorithm_id = db.insert(
                "algorithm",
                {
                    "name": f"bench-algorithm-{i}",
                    "description": f"Benchmark algorithm number {i}",
                    "image": f"harbor2.vantage6.ai/bench/algorithm-{i}:1.0",
                    "digest": "sha256:" + f"{i:064x}",
                    "status": "approved",
                    "code_url": f"https://github.com/example/algorithm-{i}",
                    "documentation_url": f"https://docs.example.org/algorithm-{i}",
                    "partitioning": "horizontal",
                    "vantage6_version": "4.14",
                    "submitted_at": STAMP,
                    "approved_at": STAMP,
                },
            )
            _seed_function(db, algorithm_id, "central_summary", "central")
            _seed_function(db, algorithm_id, "partial_summary", "federated")
        conn.commit()
