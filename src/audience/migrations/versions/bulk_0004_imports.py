"""bulk imports: jobs, uploaded chunks, per-row errors

Revision ID: bulk_0004
Revises: push_0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "bulk_0004"
down_revision: str | None = "push_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "imports",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("uploaded", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=300), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("updated", sa.BigInteger(), nullable=False),
        sa.Column("failed", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_imports")),
    )
    op.create_table(
        "import_chunks",
        sa.Column("import_id", sa.String(length=36), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("import_id", "seq", name=op.f("pk_import_chunks")),
    )
    op.create_table(
        "import_errors",
        sa.Column("import_id", sa.String(length=36), nullable=False),
        sa.Column("row", sa.BigInteger(), nullable=False),
        sa.Column("field", sa.String(length=300), nullable=True),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("import_id", "row", name=op.f("pk_import_errors")),
    )


def downgrade() -> None:
    op.drop_table("import_errors")
    op.drop_table("import_chunks")
    op.drop_table("imports")
