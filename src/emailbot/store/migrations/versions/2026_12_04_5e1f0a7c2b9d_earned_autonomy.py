"""earned autonomy: admins' grants and revocations of auto-send per category

Revision ID: 5e1f0a7c2b9d
Revises: ea8a5066f6c6
Create Date: 2026-12-04 15:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import emailbot.store.tables

revision: str = "5e1f0a7c2b9d"
down_revision: str | None = "ea8a5066f6c6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "autonomy_overrides",
        sa.Column("category", sa.String(length=100), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("changed_at", emailbot.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("category", name=op.f("pk_autonomy_overrides")),
    )


def downgrade() -> None:
    op.drop_table("autonomy_overrides")
