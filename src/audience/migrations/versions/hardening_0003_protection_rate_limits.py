"""protected persons and shared rate-limit counters

Revision ID: hardening_0003
Revises: outbox_0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "hardening_0003"
down_revision: str | None = "outbox_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "persons",
        sa.Column("protected", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "rate_limit_counters",
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("window_start", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key", "window_start", name=op.f("pk_rate_limit_counters")),
    )


def downgrade() -> None:
    op.drop_table("rate_limit_counters")
    op.drop_column("persons", "protected")
