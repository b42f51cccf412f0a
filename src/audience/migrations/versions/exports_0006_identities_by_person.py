"""person_identities: the index by person covers a person's identities in listing order

Revision ID: exports_0006
Revises: bulk_0005

``ix_person_identities_person_id (person_id)`` becomes ``(person_id, created_at, value, kind)``:
a person's identities are read in the order the API lists them from the index alone (no table
row, no sort) — what the persons export does for every person (docs/performance.md, "Export
speed, fourth pass"). Every lookup by person the old index served, this one serves.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "exports_0006"
down_revision: str | None = "bulk_0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ["person_id", "created_at", "value", "kind"]


def upgrade() -> None:
    op.create_index("ix_person_identities_person_listing", "person_identities", COLUMNS)
    op.drop_index("ix_person_identities_person_id", table_name="person_identities")


def downgrade() -> None:
    op.create_index("ix_person_identities_person_id", "person_identities", ["person_id"])
    op.drop_index("ix_person_identities_person_listing", table_name="person_identities")
