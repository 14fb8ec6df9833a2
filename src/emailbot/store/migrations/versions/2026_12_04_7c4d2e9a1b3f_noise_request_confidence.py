"""noise: the classifier's request confidence and noise kind per classification; the routed kind per result

Revision ID: 7c4d2e9a1b3f
Revises: 5e1f0a7c2b9d
Create Date: 2026-12-04 15:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7c4d2e9a1b3f"
down_revision: str | None = "5e1f0a7c2b9d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Classifications stored before noise detection existed were taken as requests: 100, no kind.
    with op.batch_alter_table("classifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("request_confidence", sa.Float(), nullable=False, server_default="100"))
        batch_op.add_column(sa.Column("noise", sa.String(length=20), nullable=False, server_default=""))
    with op.batch_alter_table("processing_results", schema=None) as batch_op:
        batch_op.add_column(sa.Column("noise", sa.String(length=20), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("processing_results", schema=None) as batch_op:
        batch_op.drop_column("noise")
    with op.batch_alter_table("classifications", schema=None) as batch_op:
        batch_op.drop_column("noise")
        batch_op.drop_column("request_confidence")
