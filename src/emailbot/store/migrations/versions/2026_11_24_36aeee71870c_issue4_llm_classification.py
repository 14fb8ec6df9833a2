"""issue 4: LLM classification: prompt version, raw confidence and cost per classification; draft tokens and cost

Revision ID: 36aeee71870c
Revises: 228695a7b3d2
Create Date: 2026-11-24 01:37:40.327854
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "36aeee71870c"
down_revision: str | None = "228695a7b3d2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("classifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("prompt_version", sa.String(length=50), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("raw_confidence", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("cost", sa.Float(), nullable=False, server_default="0"))

    with op.batch_alter_table("processing_results", schema=None) as batch_op:
        batch_op.add_column(sa.Column("draft_tokens", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("draft_cost", sa.Float(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("processing_results", schema=None) as batch_op:
        batch_op.drop_column("draft_cost")
        batch_op.drop_column("draft_tokens")

    with op.batch_alter_table("classifications", schema=None) as batch_op:
        batch_op.drop_column("cost")
        batch_op.drop_column("raw_confidence")
        batch_op.drop_column("prompt_version")
