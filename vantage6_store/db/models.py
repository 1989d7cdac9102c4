"""SQLAlchemy models of the store; table and column names follow vantage6's store 4.x."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from vantage6_common.service.tables import link_table


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    pass


role_rule = link_table("role_rule_association", Base.metadata, "role", "rule")

user_role = link_table("permission", Base.metadata, "user", "role")


class Vantage6Server(Base):
    """A vantage6 server whose users may use this store (whitelisted)."""

    __tablename__ = "vantage6_server"
    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2048), unique=True)
    users: Mapped[list[StoreUser]] = relationship(back_populates="server", passive_deletes=True)


class Rule(Base):
    """Permission to do ``operation`` on resource ``name``."""

    __tablename__ = "rule"
    __table_args__ = (UniqueConstraint("name", "operation"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    operation: Mapped[str] = mapped_column(String(16))
    description: Mapped[str | None] = mapped_column(Text)


class Role(Base):
    __tablename__ = "role"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    is_default_role: Mapped[bool] = mapped_column(Boolean, default=False)
    rules: Mapped[list[Rule]] = relationship(secondary=role_rule)
    users: Mapped[list[StoreUser]] = relationship(secondary=user_role, back_populates="roles")


class StoreUser(Base):
    """A user of a whitelisted vantage6 server, registered in this store."""

    __tablename__ = "user"
    __table_args__ = (UniqueConstraint("username", "v6_server_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(128))
    email: Mapped[str | None] = mapped_column(String(256))
    organization_id: Mapped[int | None] = mapped_column(Integer)
    v6_server_id: Mapped[int] = mapped_column(ForeignKey("vantage6_server.id", ondelete="CASCADE"))
    server: Mapped[Vantage6Server] = relationship(back_populates="users")
    roles: Mapped[list[Role]] = relationship(secondary=user_role, back_populates="users")

    def rule_keys(self) -> set[tuple[str, str]]:
        return {(rule.name, rule.operation) for role in self.roles for rule in role.rules}


class Algorithm(Base):
    __tablename__ = "algorithm"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(256))
    description: Mapped[str | None] = mapped_column(Text)
    image: Mapped[str] = mapped_column(String(1024), index=True)
    digest: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(64), index=True)
    code_url: Mapped[str] = mapped_column(String(2048))
    documentation_url: Mapped[str | None] = mapped_column(String(2048))
    partitioning: Mapped[str] = mapped_column(String(32))
    vantage6_version: Mapped[str] = mapped_column(String(64))
    submission_comments: Mapped[str | None] = mapped_column(Text)
    submitted_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    approved_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    invalidated_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    developer_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    developer: Mapped[StoreUser | None] = relationship()
    # (loaded with the algorithm, in one query per level: every answer serializes them)
    functions: Mapped[list[Function]] = relationship(
        cascade="all, delete-orphan", order_by="Function.id", lazy="selectin"
    )
    reviews: Mapped[list[Review]] = relationship(
        back_populates="algorithm", cascade="all, delete-orphan", order_by="Review.id"
    )
    events: Mapped[list[AlgorithmEvent]] = relationship(
        cascade="all, delete-orphan", order_by="AlgorithmEvent.id"
    )


class Function(Base):
    __tablename__ = "function"
    id: Mapped[int] = mapped_column(primary_key=True)
    algorithm_id: Mapped[int] = mapped_column(ForeignKey("algorithm.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(256))
    display_name: Mapped[str | None] = mapped_column(String(256))
    description: Mapped[str | None] = mapped_column(Text)
    type_: Mapped[str] = mapped_column("type", String(32))
    standalone: Mapped[bool] = mapped_column(Boolean, default=True)
    databases: Mapped[list[FunctionDatabase]] = relationship(
        cascade="all, delete-orphan", order_by="FunctionDatabase.id", lazy="selectin"
    )
    arguments: Mapped[list[Argument]] = relationship(
        cascade="all, delete-orphan",
        order_by="Argument.id",
        foreign_keys="Argument.function_id",
        lazy="selectin",
    )
    ui_visualizations: Mapped[list[UIVisualization]] = relationship(
        cascade="all, delete-orphan", order_by="UIVisualization.id", lazy="selectin"
    )


class FunctionDatabase(Base):
    __tablename__ = "database"
    id: Mapped[int] = mapped_column(primary_key=True)
    function_id: Mapped[int] = mapped_column(ForeignKey("function.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(256))
    description: Mapped[str | None] = mapped_column(Text)


class Argument(Base):
    __tablename__ = "argument"
    id: Mapped[int] = mapped_column(primary_key=True)
    function_id: Mapped[int] = mapped_column(ForeignKey("function.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(256))
    display_name: Mapped[str | None] = mapped_column(String(256))
    description: Mapped[str | None] = mapped_column(Text)
    type_: Mapped[str] = mapped_column("type", String(32))
    has_default_value: Mapped[bool] = mapped_column(Boolean, default=False)
    default_value: Mapped[str | None] = mapped_column(Text)
    conditional_on_id: Mapped[int | None] = mapped_column(
        ForeignKey("argument.id", ondelete="SET NULL")
    )
    conditional_operator: Mapped[str | None] = mapped_column(String(4))
    conditional_value: Mapped[str | None] = mapped_column(Text)
    is_frontend_only: Mapped[bool] = mapped_column(Boolean, default=False)
    allowed_values: Mapped[list[AllowedArgumentValue]] = relationship(
        cascade="all, delete-orphan", order_by="AllowedArgumentValue.id", lazy="selectin"
    )
    conditional_argument: Mapped[Argument | None] = relationship(
        remote_side="Argument.id", foreign_keys=[conditional_on_id]
    )


class AllowedArgumentValue(Base):
    __tablename__ = "allowed_argument_value"
    id: Mapped[int] = mapped_column(primary_key=True)
    argument_id: Mapped[int] = mapped_column(ForeignKey("argument.id", ondelete="CASCADE"))
    value: Mapped[str] = mapped_column(Text)


class UIVisualization(Base):
    __tablename__ = "ui_visualization"
    id: Mapped[int] = mapped_column(primary_key=True)
    function_id: Mapped[int] = mapped_column(ForeignKey("function.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(256))
    description: Mapped[str | None] = mapped_column(Text)
    type_: Mapped[str] = mapped_column("type", String(32))
    schema: Mapped[Any] = mapped_column(JSON, default=dict)


class Review(Base):
    __tablename__ = "review"
    id: Mapped[int] = mapped_column(primary_key=True)
    algorithm_id: Mapped[int] = mapped_column(ForeignKey("algorithm.id", ondelete="CASCADE"))
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    requested_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    submitted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(32))
    comment: Mapped[str | None] = mapped_column(Text)
    algorithm: Mapped[Algorithm] = relationship(back_populates="reviews")
    reviewer: Mapped[StoreUser | None] = relationship(foreign_keys=[reviewer_id])
    requested_by: Mapped[StoreUser | None] = relationship(foreign_keys=[requested_by_id])


class AlgorithmEvent(Base):
    """One status transition of an algorithm: from, to, who and when."""

    __tablename__ = "algorithm_event"
    id: Mapped[int] = mapped_column(primary_key=True)
    algorithm_id: Mapped[int] = mapped_column(ForeignKey("algorithm.id", ondelete="CASCADE"))
    from_status: Mapped[str | None] = mapped_column(String(64))
    to_status: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    username: Mapped[str | None] = mapped_column(String(128))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    note: Mapped[str | None] = mapped_column(Text)
