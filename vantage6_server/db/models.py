"""SQLAlchemy 2 models of the federation."""

from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from vantage6_common.scheme_policy import DEFAULT_SETTING
from vantage6_common.service.tables import link_table


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    """Declarative base of every model."""


#: table options of every table with an integer id: SQLite never hands out a deleted row's id
#: again (PostgreSQL sequences never do). Tokens name their subject by id.
NO_ID_REUSE = {"sqlite_autoincrement": True}


def new_token_key() -> str:
    """A random value that tells this row from any other that ever had its id."""
    return secrets.token_hex(16)


collaboration_organization = link_table(
    "collaboration_organization", Base.metadata, "collaboration", "organization"
)
study_organization = link_table("study_organization", Base.metadata, "study", "organization")
user_role = link_table("user_role", Base.metadata, "user", "role")
user_rule = link_table("user_rule", Base.metadata, "user", "rule")
role_rule = link_table("role_rule", Base.metadata, "role", "rule")


class ServerSetting(Base):
    """Key-value settings the server generates and keeps (e.g. the JWT secret)."""

    __tablename__ = "server_setting"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Organization(Base):
    __tablename__ = "organization"
    __table_args__ = NO_ID_REUSE
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    domain: Mapped[str | None] = mapped_column(String(256))
    address1: Mapped[str | None] = mapped_column(String(256))
    address2: Mapped[str | None] = mapped_column(String(256))
    zipcode: Mapped[str | None] = mapped_column(String(64))
    country: Mapped[str | None] = mapped_column(String(128))
    public_key: Mapped[str | None] = mapped_column(Text)

    collaborations: Mapped[list[Collaboration]] = relationship(
        secondary=collaboration_organization, back_populates="organizations"
    )
    studies: Mapped[list[Study]] = relationship(
        secondary=study_organization, back_populates="organizations"
    )
    users: Mapped[list[User]] = relationship(back_populates="organization", passive_deletes=True)
    nodes: Mapped[list[Node]] = relationship(back_populates="organization", passive_deletes=True)


class Collaboration(Base):
    __tablename__ = "collaboration"
    __table_args__ = NO_ID_REUSE
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    encrypted: Mapped[bool] = mapped_column(Boolean, default=True)
    session_restrict_to_same_image: Mapped[bool] = mapped_column(Boolean, default=False)
    #: payload format of the collaboration's values (vantage6_common.scheme_policy.SETTINGS)
    encryption_scheme: Mapped[str] = mapped_column(
        String(16), default=DEFAULT_SETTING, server_default=DEFAULT_SETTING
    )

    organizations: Mapped[list[Organization]] = relationship(
        secondary=collaboration_organization, back_populates="collaborations"
    )
    nodes: Mapped[list[Node]] = relationship(back_populates="collaboration", passive_deletes=True)
    studies: Mapped[list[Study]] = relationship(
        back_populates="collaboration", passive_deletes=True
    )
    tasks: Mapped[list[Task]] = relationship(back_populates="collaboration", passive_deletes=True)


class Study(Base):
    __tablename__ = "study"
    __table_args__ = NO_ID_REUSE
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    collaboration_id: Mapped[int] = mapped_column(
        ForeignKey("collaboration.id", ondelete="CASCADE"), index=True
    )
    collaboration: Mapped[Collaboration] = relationship(back_populates="studies")
    organizations: Mapped[list[Organization]] = relationship(
        secondary=study_organization, back_populates="studies"
    )


class Rule(Base):
    __tablename__ = "rule"
    __table_args__ = (UniqueConstraint("name", "operation", "scope"), NO_ID_REUSE)
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    operation: Mapped[str] = mapped_column(String(16))
    scope: Mapped[str] = mapped_column(String(16))
    description: Mapped[str | None] = mapped_column(String(256))


class Role(Base):
    __tablename__ = "role"
    __table_args__ = NO_ID_REUSE
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    description: Mapped[str | None] = mapped_column(String(512))
    organization_id: Mapped[int | None] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE"), index=True
    )
    organization: Mapped[Organization | None] = relationship()
    rules: Mapped[list[Rule]] = relationship(secondary=role_rule)
    users: Mapped[list[User]] = relationship(secondary=user_role, back_populates="roles")


class User(Base):
    __tablename__ = "user"
    __table_args__ = NO_ID_REUSE
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(128), unique=True)
    email: Mapped[str] = mapped_column(String(256), unique=True)
    firstname: Mapped[str | None] = mapped_column(String(128))
    lastname: Mapped[str | None] = mapped_column(String(128))
    password_hash: Mapped[str] = mapped_column(String(256))
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE"), index=True
    )
    failed_login_attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_login_attempt: Mapped[dt.datetime | None] = mapped_column(DateTime)
    otp_secret: Mapped[str | None] = mapped_column(String(64))
    otp_confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    token_version: Mapped[int] = mapped_column(Integer, default=0)
    #: in every token of this user: a token of a deleted user never fits another one
    token_key: Mapped[str] = mapped_column(String(32), default=new_token_key)
    #: the TOTP time step of the last accepted code; a code of that step or older is refused
    otp_last_step: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    organization: Mapped[Organization] = relationship(back_populates="users")
    roles: Mapped[list[Role]] = relationship(secondary=user_role, back_populates="users")
    rules: Mapped[list[Rule]] = relationship(secondary=user_rule)


class Node(Base):
    __tablename__ = "node"
    __table_args__ = NO_ID_REUSE
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(256), unique=True)
    api_key_digest: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE"), index=True
    )
    collaboration_id: Mapped[int] = mapped_column(
        ForeignKey("collaboration.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(16), default="offline")
    last_seen: Mapped[dt.datetime | None] = mapped_column(DateTime)
    ip: Mapped[str | None] = mapped_column(String(64))
    config: Mapped[dict | None] = mapped_column(JSON)
    #: in every token of this node; a new one revokes them all
    token_key: Mapped[str] = mapped_column(String(32), default=new_token_key)

    organization: Mapped[Organization] = relationship(back_populates="nodes")
    collaboration: Mapped[Collaboration] = relationship(back_populates="nodes")


class AlgorithmStore(Base):
    __tablename__ = "algorithm_store"
    __table_args__ = NO_ID_REUSE
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    url: Mapped[str] = mapped_column(String(512))
    collaboration_id: Mapped[int | None] = mapped_column(
        ForeignKey("collaboration.id", ondelete="CASCADE"), index=True
    )


class Task(Base):
    __tablename__ = "task"
    __table_args__ = NO_ID_REUSE
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str | None] = mapped_column(String(256))
    description: Mapped[str | None] = mapped_column(Text)
    image: Mapped[str] = mapped_column(String(512))
    collaboration_id: Mapped[int] = mapped_column(
        ForeignKey("collaboration.id", ondelete="CASCADE"), index=True
    )
    study_id: Mapped[int | None] = mapped_column(
        ForeignKey("study.id", ondelete="SET NULL"), index=True
    )
    job_id: Mapped[int] = mapped_column(Integer, index=True)
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("task.id", ondelete="CASCADE"), index=True
    )
    init_org_id: Mapped[int | None] = mapped_column(
        ForeignKey("organization.id", ondelete="SET NULL"), index=True
    )
    init_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user.id", ondelete="SET NULL"), index=True
    )
    algorithm_store_id: Mapped[int | None] = mapped_column(
        ForeignKey("algorithm_store.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    databases: Mapped[list | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(32), default="pending", index=True)
    #: in the container tokens of this task
    token_key: Mapped[str] = mapped_column(String(32), default=new_token_key)

    collaboration: Mapped[Collaboration] = relationship(back_populates="tasks")
    runs: Mapped[list[Run]] = relationship(
        back_populates="task", cascade="all, delete-orphan", passive_deletes=True
    )
    parent: Mapped[Task | None] = relationship(remote_side="Task.id", back_populates="children")
    children: Mapped[list[Task]] = relationship(back_populates="parent", passive_deletes=True)


class Run(Base):
    __tablename__ = "run"
    __table_args__ = NO_ID_REUSE
    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("task.id", ondelete="CASCADE"), index=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE"), index=True
    )
    input: Mapped[str | None] = mapped_column(Text)
    result: Mapped[str | None] = mapped_column(Text)
    log: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(32), default="pending", index=True)
    assigned_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    #: input and result are blob uuids (in the server's blob store) instead of the data
    blob_storage_used: Mapped[bool | None] = mapped_column(Boolean, default=False)

    task: Mapped[Task] = relationship(back_populates="runs")
    organization: Mapped[Organization] = relationship()


class Blob(Base):
    """A blob in the server's blob store: who uploaded it and, once attached, whose it is.

    The row is written before the bytes are (``size`` stays null until the upload has
    completed), so a store object without a row is never one being uploaded. Rows of deleted
    tasks and runs go with them (cascade); the store objects are deleted after the commit, and
    the orphan sweep removes what a failing store kept.
    """

    __tablename__ = "blob"
    uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    uploader_kind: Mapped[str] = mapped_column(String(16))  # user | node | container
    uploader_id: Mapped[int] = mapped_column(Integer)  # user, node or the container's task id
    #: the uploader's collaboration (nodes, containers), else the task's once attached
    collaboration_id: Mapped[int | None] = mapped_column(
        ForeignKey("collaboration.id", ondelete="CASCADE"), index=True
    )
    size: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    task_id: Mapped[int | None] = mapped_column(
        ForeignKey("task.id", ondelete="CASCADE"), index=True
    )
    run_id: Mapped[int | None] = mapped_column(ForeignKey("run.id", ondelete="CASCADE"), index=True)
    role: Mapped[str | None] = mapped_column(String(8))  # input | result


class RecoveryToken(Base):
    """Single-use token e-mailed for password or 2FA recovery; only its digest is stored."""

    __tablename__ = "recovery_token"
    __table_args__ = NO_ID_REUSE
    id: Mapped[int] = mapped_column(primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(16))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    used: Mapped[bool] = mapped_column(Boolean, default=False)


class RefreshFamily(Base):
    """The refresh tokens of one login: each refresh spends one and issues the next.

    The row is written at the first refresh (a login writes nothing); ``generation`` is the
    number of the refresh token that may be used next. Presenting a spent one means it was
    copied: the subject's tokens are all revoked.
    """

    __tablename__ = "refresh_family"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    generation: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)
