"""security: ids are never reused, tokens name their subject's instance, TOTP replay, refresh
token families

Revision ID: 0002_security
Revises: 0001

- SQLite tables with an integer id are rebuilt with AUTOINCREMENT, so that a deleted row's id
  never comes back (PostgreSQL sequences never hand an id out twice).
- ``user``, ``node`` and ``task`` get ``token_key``, a random value per row that their tokens
  carry (existing rows get one each).
- ``user.otp_last_step``: the TOTP time step of the last accepted code.
- ``refresh_family``: the spent/next state of each login's refresh tokens.

SQLite's foreign keys must be off while tables are rebuilt (``db/migrate.py`` does that),
else dropping the old table would cascade-delete the rows that refer to it.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_security"
down_revision = "0001"
branch_labels = None
depends_on = None

ID_TABLES = (
    "collaboration",
    "organization",
    "rule",
    "algorithm_store",
    "node",
    "role",
    "study",
    "user",
    "recovery_token",
    "task",
    "run",
)
KEYED_TABLES = ("user", "node", "task")
RANDOM_KEY = {
    "sqlite": "(lower(hex(randomblob(16))))",
    "postgresql": "md5(random()::text || clock_timestamp()::text)",
}


def _key_column(dialect: str) -> sa.Column:
    # a volatile default fills every existing row with a value of its own
    return sa.Column(
        "token_key", sa.String(32), nullable=False, server_default=sa.text(RANDOM_KEY[dialect])
    )


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for table in ID_TABLES:
            with op.batch_alter_table(
                table, recreate="always", table_kwargs={"sqlite_autoincrement": True}
            ) as batch:
                if table in KEYED_TABLES:
                    batch.add_column(_key_column(dialect))
                if table == "user":
                    batch.add_column(sa.Column("otp_last_step", sa.Integer(), nullable=True))
    else:
        for table in KEYED_TABLES:
            op.add_column(table, _key_column(dialect))
        op.add_column("user", sa.Column("otp_last_step", sa.Integer(), nullable=True))
    op.create_table(
        "refresh_family",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("refresh_family", schema=None) as batch:
        batch.create_index(batch.f("ix_refresh_family_expires_at"), ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("refresh_family", schema=None) as batch:
        batch.drop_index(batch.f("ix_refresh_family_expires_at"))
    op.drop_table("refresh_family")
    for table in KEYED_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("token_key")
    with op.batch_alter_table("user") as batch:
        batch.drop_column("otp_last_step")
