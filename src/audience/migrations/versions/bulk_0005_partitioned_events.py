"""PostgreSQL: events range-partitioned by month of occurred_at (existing rows moved over)

Revision ID: bulk_0005
Revises: bulk_0004

A partitioned table's primary key and unique constraints must contain the partition key, so
the key becomes (id, occurred_at) and the idempotency constraint (push_registration_id,
event_id, occurred_at). SQLite keeps one table (retention deletes rows in batches there).
"""

from collections.abc import Sequence

from alembic import op

from audience.retention.partitions import CREATE_PARTITIONED_EVENTS, initial_partition_sql

revision: str = "bulk_0005"
down_revision: str | None = "bulk_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE events RENAME TO events_unpartitioned")
    op.execute("ALTER TABLE events_unpartitioned RENAME CONSTRAINT pk_events TO pk_events_old")
    op.execute(
        "ALTER TABLE events_unpartitioned RENAME CONSTRAINT "
        "uq_events_installation_event_id TO uq_events_old"
    )
    op.execute("ALTER INDEX ix_events_person_id_occurred_at RENAME TO ix_events_old")
    op.execute(CREATE_PARTITIONED_EVENTS)
    bounds = bind.exec_driver_sql(
        "SELECT min(occurred_at), max(occurred_at) FROM events_unpartitioned"
    ).one()
    for statement in initial_partition_sql(bounds[0], bounds[1]):
        op.execute(statement)
    op.execute("INSERT INTO events SELECT * FROM events_unpartitioned")
    op.execute("ALTER SEQUENCE events_id_seq OWNED BY events.id")
    op.execute("DROP TABLE events_unpartitioned")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE events RENAME TO events_partitioned")
    op.execute("ALTER TABLE events_partitioned RENAME CONSTRAINT pk_events TO pk_events_part")
    op.execute(
        "ALTER TABLE events_partitioned RENAME CONSTRAINT "
        "uq_events_installation_event_id TO uq_events_part"
    )
    op.execute("ALTER INDEX ix_events_person_id_occurred_at RENAME TO ix_events_part")
    op.execute(
        """
        CREATE TABLE events (
            id bigint NOT NULL DEFAULT nextval('events_id_seq'),
            person_id varchar(36) NOT NULL,
            push_registration_id varchar(36),
            definition_id varchar(36) NOT NULL,
            occurred_at timestamp NOT NULL,
            received_at timestamp NOT NULL,
            event_id varchar(36),
            properties jsonb NOT NULL,
            CONSTRAINT pk_events PRIMARY KEY (id),
            CONSTRAINT uq_events_installation_event_id UNIQUE (push_registration_id, event_id)
        )
        """
    )
    op.execute("CREATE INDEX ix_events_person_id_occurred_at ON events (person_id, occurred_at)")
    op.execute("INSERT INTO events SELECT * FROM events_partitioned")
    op.execute("ALTER SEQUENCE events_id_seq OWNED BY events.id")
    op.execute("DROP TABLE events_partitioned")
