"""segment upkeep: build status, segment-level sweep time, per-person due times

Revision ID: segupkeep_0003
Revises: hardening_0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "segupkeep_0003"
down_revision: str | None = "hardening_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("segments") as batch:
        batch.add_column(
            sa.Column("status", sa.String(length=16), nullable=False, server_default="ready")
        )
        batch.add_column(sa.Column("sweep_at", sa.DateTime(), nullable=True))
    op.create_table(
        "segment_due",
        sa.Column("segment_id", sa.String(length=36), nullable=False),
        sa.Column("person_id", sa.String(length=36), nullable=False),
        sa.Column("due_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("segment_id", "person_id", name=op.f("pk_segment_due")),
    )
    op.create_index("ix_segment_due_due_at", "segment_due", ["due_at"], unique=False)
    op.create_index("ix_segment_due_person_id", "segment_due", ["person_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_segment_due_person_id", table_name="segment_due")
    op.drop_index("ix_segment_due_due_at", table_name="segment_due")
    op.drop_table("segment_due")
    with op.batch_alter_table("segments") as batch:
        batch.drop_column("sweep_at")
        batch.drop_column("status")
