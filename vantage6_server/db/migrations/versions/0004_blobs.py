"""blobs: the blob store's bookkeeping, and runs that refer to blobs

Revision ID: 0004_blobs
Revises: 0003_encryption_scheme

- ``blob``: one row per uploaded blob (uploader, size, the task and run it belongs to and as
  what), written before the upload streams.
- ``run.blob_storage_used``: whether the run's input and result are blob uuids (existing runs:
  false, their data is in the row).
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_blobs"
down_revision = "0003_encryption_scheme"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "blob",
        sa.Column("uuid", sa.String(length=36), primary_key=True),
        sa.Column("uploader_kind", sa.String(length=16), nullable=False),
        sa.Column("uploader_id", sa.Integer(), nullable=False),
        sa.Column(
            "collaboration_id",
            sa.Integer(),
            sa.ForeignKey("collaboration.id", ondelete="CASCADE"),
            nullable=True,
        ),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("task_id", sa.Integer(), sa.ForeignKey("task.id", ondelete="CASCADE")),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("run.id", ondelete="CASCADE")),
        sa.Column("role", sa.String(length=8), nullable=True),
    )
    for column in ("collaboration_id", "created_at", "task_id", "run_id"):
        op.create_index(f"ix_blob_{column}", "blob", [column])
    # a plain ADD COLUMN: a batch copy would drop SQLite's AUTOINCREMENT (ids must not return)
    op.add_column(
        "run",
        sa.Column("blob_storage_used", sa.Boolean(), nullable=True, server_default=sa.false()),
    )


def downgrade() -> None:
    with op.batch_alter_table("run", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.drop_column("blob_storage_used")
    op.drop_table("blob")
