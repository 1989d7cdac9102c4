"""Table shapes both services' models use."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, MetaData, Table


def link_table(name: str, metadata: MetaData, *ends: str) -> Table:
    """A many-to-many table: a ``<end>_id`` key column per end; a row goes when an end goes."""
    columns: list[Column[int]] = [
        Column(f"{end}_id", ForeignKey(f"{end}.id", ondelete="CASCADE"), primary_key=True)
        for end in ends
    ]
    return Table(name, metadata, *columns)
