"""push credentials, messages and deliveries (docs/push.md)

Revision ID: push_0004
Revises: flows_0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "push_0004"
down_revision: str | None = "flows_0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "push_credentials",
        sa.Column("application_id", sa.String(length=36), nullable=False),
        sa.Column("provider", sa.String(length=8), nullable=False),
        sa.Column("settings", JSON, nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_push_credentials_application_id_applications"),
        ),
        sa.PrimaryKeyConstraint("application_id", "provider", name=op.f("pk_push_credentials")),
    )
    op.create_table(
        "push_messages",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("application_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("audience", JSON, nullable=False),
        sa.Column("content", JSON, nullable=False),
        sa.Column("send_at", sa.DateTime(), nullable=True),
        sa.Column("targeted", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_push_messages_application_id_applications"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_push_messages")),
    )
    op.create_index("ix_push_messages_created_at", "push_messages", ["created_at"])
    op.create_table(
        "push_deliveries",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("chunk", sa.Integer(), nullable=False),
        sa.Column("push_registration_id", sa.String(length=36), nullable=False),
        sa.Column("person_id", sa.String(length=36), nullable=True),
        sa.Column("push_service_type", sa.String(length=16), nullable=True),
        sa.Column("token", sa.String(length=4096), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_push_deliveries")),
    )
    op.create_index(
        "ix_push_deliveries_message_id_chunk", "push_deliveries", ["message_id", "chunk"]
    )
    op.create_index(
        "ix_push_deliveries_message_id_status", "push_deliveries", ["message_id", "status"]
    )


def downgrade() -> None:
    op.drop_index("ix_push_deliveries_message_id_status", table_name="push_deliveries")
    op.drop_index("ix_push_deliveries_message_id_chunk", table_name="push_deliveries")
    op.drop_table("push_deliveries")
    op.drop_index("ix_push_messages_created_at", table_name="push_messages")
    op.drop_table("push_messages")
    op.drop_table("push_credentials")
