"""collaboration.encryption_scheme: the payload format a collaboration's values use

Revision ID: 0003_encryption_scheme
Revises: 0001
Create Date: 2026-11-30 12:00:00

Existing collaborations become "vantage6" (the vantage6 4.x format, which is what their values
were written in when their nodes had not announced the authenticated one).
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_encryption_scheme"
down_revision = "0002_security"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("collaboration") as batch:
        batch.add_column(
            sa.Column(
                "encryption_scheme",
                sa.String(length=16),
                nullable=False,
                server_default="vantage6",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("collaboration") as batch:
        batch.drop_column("encryption_scheme")
