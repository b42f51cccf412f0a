"""the merge journal: reversible merges (docs/identity.md)

Revision ID: merges_0003
Revises: segupkeep_0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "merges_0003"
down_revision: str | None = "segupkeep_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "person_merges",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True),
        sa.Column("merge_id", sa.String(length=36), nullable=False),
        sa.Column("survivor_id", sa.String(length=36), nullable=False),
        sa.Column("merged_person_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=300), nullable=False),
        sa.Column("snapshot", JSON, nullable=False),
        sa.Column("given", JSON, nullable=False),
        sa.Column("inherited", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("undone_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person_merges")),
        sa.UniqueConstraint("merge_id", name=op.f("uq_person_merges_merge_id")),
    )
    op.create_index("ix_person_merges_survivor_id", "person_merges", ["survivor_id"])
    op.create_index("ix_person_merges_merged_person_id", "person_merges", ["merged_person_id"])


def downgrade() -> None:
    op.drop_index("ix_person_merges_merged_person_id", table_name="person_merges")
    op.drop_index("ix_person_merges_survivor_id", table_name="person_merges")
    op.drop_table("person_merges")
