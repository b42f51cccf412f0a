"""The schema, as SQLAlchemy Core tables: the single source Alembic migrations are written from.

Large tables (persons, installations, events, changes) carry ``person_id`` and have no foreign
keys between them, so the PostgreSQL schema can be distributed by Citus on ``person_id``
(docs/decisions.md). Small, rarely written tables (applications, keys, definitions) keep
foreign keys.
"""

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# JSONB on PostgreSQL (indexable, compact); JSON text on SQLite.
Json = JSON().with_variant(JSONB(), "postgresql")
# An auto-incrementing 64-bit key; on SQLite it must be INTEGER to alias the rowid.
BigId = BigInteger().with_variant(Integer(), "sqlite")

applications = Table(
    "applications",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("application_code", String(64), nullable=False, unique=True),
    Column("name", String(255), nullable=False),
    Column("require_user_jwt", Boolean, nullable=False, default=False),
    # HS256 needs the secret itself to verify a signature, so it cannot be hashed.
    Column("jwt_secret", String(128), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("key_prefix", String(16), nullable=False),
    Column("scopes", String(64), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("revoked_at", DateTime, nullable=True),
)

persons = Table(
    "persons",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("type", String(16), nullable=False),
    Column("external_user_id", String(256), nullable=True, unique=True),
    Column("first_name", String(255), nullable=True),
    Column("last_name", String(255), nullable=True),
    Column("middle_name", String(50), nullable=True),
    Column("gender", String(8), nullable=True),
    Column("birthday", String(10), nullable=True),
    Column("custom_attributes", Json, nullable=False, default=dict),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    # Personalized through an app with requireUserJwt (docs/security.md): mobile calls of any app
    # need the user's token from then on.
    Column("protected", Boolean, nullable=False, default=False, server_default=false()),
    Index("ix_persons_updated_at", "updated_at"),
)

# Phones and emails; the primary key makes each value belong to one person deployment-wide.
person_identities = Table(
    "person_identities",
    metadata,
    Column("kind", String(8), nullable=False),
    Column("value", String(255), nullable=False),
    Column("person_id", String(36), nullable=False),
    Column("created_at", DateTime, nullable=False),
    PrimaryKeyConstraint("kind", "value"),
    # Covers a person's identities in the order the API lists them (exports_0006).
    Index("ix_person_identities_person_listing", "person_id", "created_at", "value", "kind"),
)

# A merged-away person id keeps resolving to the survivor; its events stay where they are
# and are read through this table, so a merge costs the same whatever the history size.
person_aliases = Table(
    "person_aliases",
    metadata,
    Column("alias_id", String(36), primary_key=True),
    Column("person_id", String(36), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Index("ix_person_aliases_person_id", "person_id"),
)

person_tags = Table(
    "person_tags",
    metadata,
    Column("person_id", String(36), nullable=False),
    Column("tag", String(255), nullable=False),
    PrimaryKeyConstraint("person_id", "tag"),
    Index("ix_person_tags_tag", "tag"),
)

person_changes = Table(
    "person_changes",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("person_id", String(36), nullable=False),
    Column("changed_at", DateTime, nullable=False),
    Column("source", String(300), nullable=False),
    Column("field", String(300), nullable=False),
    Column("old_value", Json, nullable=True),
    Column("new_value", Json, nullable=True),
    Index("ix_person_changes_person_id_id", "person_id", "id"),
)

installations = Table(
    "installations",
    metadata,
    Column("push_registration_id", String(36), primary_key=True),
    Column("application_id", String(36), ForeignKey("applications.id"), nullable=False),
    Column("person_id", String(36), nullable=True),
    Column("platform", String(16), nullable=False),
    Column("sdk_version", String(128)),
    Column("os_version", String(128)),
    Column("device_manufacturer", String(128)),
    Column("device_model", String(128)),
    Column("application_version", String(128)),
    Column("app_version", String(128)),
    Column("os_language", String(64)),
    Column("device_timezone_offset", Integer),
    Column("device_name", String(255)),
    Column("push_service_type", String(16)),
    Column("push_service_token", String(4096)),
    Column("push_registration_enabled", Boolean, nullable=False, default=True),
    Column("registrations_enabled", Boolean, nullable=False, default=True),
    Column("notifications_enabled", Boolean),
    Column("geofencing_enabled", Boolean),
    Column("device_secure", Boolean),
    Column("is_primary_device", Boolean, nullable=False, default=False),
    Column("custom_attributes", Json, nullable=False, default=dict),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Column("uninstalled_at", DateTime, nullable=True),
    Index("ix_installations_person_id", "person_id"),
    Index("ix_installations_application_id", "application_id"),
)

attribute_definitions = Table(
    "attribute_definitions",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("type", String(16), nullable=False),
    Column("scope", String(16), nullable=False),
    Column("description", Text, nullable=True),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

event_definitions = Table(
    "event_definitions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("description", Text, nullable=True),
    Column("properties", Json, nullable=False, default=dict),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

# Append-only. Two indexes only: per-person history and per-installation idempotency.
# On PostgreSQL the table is range-partitioned by month of ``occurred_at`` (migration
# bulk_0005), so there the primary key is (id, occurred_at) and the unique constraint
# (push_registration_id, event_id, occurred_at): a partitioned table's unique keys must hold
# the partition key. Ingestion never relied on the constraint for idempotency: it looks the
# eventIds up under the installation's lock (events.queries.read_for_batch).
events = Table(
    "events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("person_id", String(36), nullable=False),
    Column("push_registration_id", String(36), nullable=True),
    Column("definition_id", String(36), nullable=False),
    Column("occurred_at", DateTime, nullable=False),
    Column("received_at", DateTime, nullable=False),
    Column("event_id", String(36), nullable=True),
    Column("properties", Json, nullable=False, default=dict),
    Index("ix_events_person_id_occurred_at", "person_id", "occurred_at"),
    UniqueConstraint("push_registration_id", "event_id", name="uq_events_installation_event_id"),
)
# The columns a new event is written with (all but the generated id), in the order the bulk
# writers bind them: the ingestion insert and the historical import.
EVENT_WRITE_COLUMNS = tuple(column.name for column in events.columns if column.name != "id")

# Recorded AppLaunch times per installation, for the 30-second rule (R7) without
# indexing the big events table by definition.
app_launches = Table(
    "app_launches",
    metadata,
    Column("push_registration_id", String(36), nullable=False),
    Column("occurred_at", DateTime, nullable=False),
    PrimaryKeyConstraint("push_registration_id", "occurred_at"),
)

# User JWT ids already seen, so a token cannot be replayed (docs/api.md, Authentication).
used_jwt_ids = Table(
    "used_jwt_ids",
    metadata,
    Column("jti", String(255), primary_key=True),
    Column("expires_at", DateTime, nullable=False),
    Index("ix_used_jwt_ids_expires_at", "expires_at"),
)

segments = Table(
    "segments",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("description", Text, nullable=True),
    Column("rule", Json, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    # "building" from a rule's save until its membership is complete, then "ready".
    Column("status", String(16), nullable=False, server_default="ready"),
    # When the whole segment must be re-evaluated because time passed (a ``within_last``
    # window moved); NULL when per-person due times cover every time window.
    Column("sweep_at", DateTime, nullable=True),
)

# Stored membership of saved segments, kept current by every write that can change it.
segment_members = Table(
    "segment_members",
    metadata,
    Column("segment_id", String(36), nullable=False),
    Column("person_id", String(36), nullable=False),
    Column("entered_at", DateTime, nullable=False),
    PrimaryKeyConstraint("segment_id", "person_id"),
    Index("ix_segment_members_person_id", "person_id"),
)

# The transactional outbox (audience.outbox): background work written in the same transaction
# as the change that causes it. ``available_at`` is both the due time and the lease: claiming
# an item pushes it into the future, so a worker that dies mid-task gives it back on expiry.
outbox = Table(
    "outbox",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("topic", String(64), nullable=False),
    Column("payload", Json, nullable=False),
    Column("available_at", DateTime, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("created_at", DateTime, nullable=False),
    Index("ix_outbox_available_at", "available_at"),
)

# Rate-limit counters shared by every worker: one row per key (failed authentications of an
# address, requests of a credential) and one-minute window.
rate_limit_counters = Table(
    "rate_limit_counters",
    metadata,
    Column("key", String(80), nullable=False),
    Column("window_start", BigInteger, nullable=False),
    Column("count", BigInteger, nullable=False),
    PrimaryKeyConstraint("key", "window_start"),
)

# The next time a person's membership of a segment can change by time alone (the oldest
# event a ``within`` window counts leaves it): the incremental sweep re-evaluates only these.
segment_due = Table(
    "segment_due",
    metadata,
    Column("segment_id", String(36), nullable=False),
    Column("person_id", String(36), nullable=False),
    Column("due_at", DateTime, nullable=False),
    PrimaryKeyConstraint("segment_id", "person_id"),
    Index("ix_segment_due_due_at", "due_at"),
    Index("ix_segment_due_person_id", "person_id"),
)

# The merge journal (docs/identity.md): what the merged person held at the merge (``snapshot``)
# and what the merge gave the survivor (``given``), so the merge can be undone. ``inherited``
# lists the merges into the merged person that were active then: their data is not its own.
person_merges = Table(
    "person_merges",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("merge_id", String(36), nullable=False, unique=True),
    Column("survivor_id", String(36), nullable=False),
    Column("merged_person_id", String(36), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("source", String(300), nullable=False),
    Column("snapshot", Json, nullable=False),
    Column("given", Json, nullable=False),
    Column("inherited", Json, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("undone_at", DateTime, nullable=True),
    Index("ix_person_merges_survivor_id", "survivor_id"),
    Index("ix_person_merges_merged_person_id", "merged_person_id"),
)

# Outbound webhooks (docs/webhooks.md): endpoints, and one delivery per (endpoint, message).
webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("url", String(2048), nullable=False),
    Column("types", Json, nullable=False),
    Column("description", String(1000), nullable=True),
    Column("enabled", Boolean, nullable=False),
    Column("secret", String(128), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    # Start of the current run of failed attempts (None while the endpoint answers 2xx).
    Column("failing_since", DateTime, nullable=True),
    Column("disabled_reason", String(64), nullable=True),
)
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("endpoint_id", String(36), nullable=False),
    # The webhook-id header: the same for every attempt of this message.
    Column("message_id", String(64), nullable=False),
    Column("type", String(64), nullable=False),
    Column("body", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_status_code", Integer, nullable=True),
    Column("last_error", String(500), nullable=True),
    Column("next_attempt_at", DateTime, nullable=True),
    Column("created_at", DateTime, nullable=False),
    Column("delivered_at", DateTime, nullable=True),
    UniqueConstraint("message_id", "endpoint_id"),
    Index("ix_webhook_deliveries_endpoint_id_created_at_id", "endpoint_id", "created_at", "id"),
    Index("ix_webhook_deliveries_status_created_at", "status", "created_at"),
)

flows = Table(
    "flows",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("version", Integer, nullable=False),
    Column("definition", Json, nullable=False),  # trigger, entry, reentry, steps
    Column("enabled", Boolean, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

# Every version of a flow's definition: a run keeps the version it started with.
flow_versions = Table(
    "flow_versions",
    metadata,
    Column("flow_id", String(36), nullable=False),
    Column("version", Integer, nullable=False),
    Column("definition", Json, nullable=False),
    Column("created_at", DateTime, nullable=False),
    PrimaryKeyConstraint("flow_id", "version"),
)

# One row per run. ``active`` is true while the run is active or waiting and NULL once it has
# ended, so the unique constraint allows one unfinished run per flow and person (NULLs are
# distinct) however many triggers arrive at once.
flow_runs = Table(
    "flow_runs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("flow_id", String(36), nullable=False),
    Column("version", Integer, nullable=False),
    Column("person_id", String(36), nullable=False),
    Column("status", String(16), nullable=False),
    Column("step", String(255), nullable=True),
    Column("active", Boolean, nullable=True),
    Column("trigger", Json, nullable=False),
    Column("log", Json, nullable=False),
    Column("started_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    UniqueConstraint("flow_id", "person_id", "active", name="uq_flow_runs_one_active"),
    Index("ix_flow_runs_person_id", "person_id"),
    Index("ix_flow_runs_flow_id_started_at", "flow_id", "started_at"),
)

# Push credentials per application and provider (docs/push.md). ``settings`` holds what may be
# shown (project id, key id, bundle id …); ``secret`` the Fernet-encrypted private part.
push_credentials = Table(
    "push_credentials",
    metadata,
    Column("application_id", String(36), ForeignKey("applications.id"), nullable=False),
    Column("provider", String(8), nullable=False),
    Column("settings", Json, nullable=False),
    Column("secret", Text, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    PrimaryKeyConstraint("application_id", "provider"),
)

push_messages = Table(
    "push_messages",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("application_id", String(36), ForeignKey("applications.id"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("audience", Json, nullable=False),
    Column("content", Json, nullable=False),
    Column("send_at", DateTime, nullable=True),
    Column("targeted", Integer, nullable=False, default=0),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Index("ix_push_messages_created_at", "created_at"),
)

# One row per distinct token of a message; ``chunk`` groups rows into one outbox item each.
push_deliveries = Table(
    "push_deliveries",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("message_id", String(36), nullable=False),
    Column("chunk", Integer, nullable=False),
    Column("push_registration_id", String(36), nullable=False),
    Column("person_id", String(36), nullable=True),
    Column("push_service_type", String(16), nullable=True),
    Column("token", String(4096), nullable=False),
    Column("title", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("error", Text, nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("updated_at", DateTime, nullable=False),
    Index("ix_push_deliveries_message_id_chunk", "message_id", "chunk"),
    Index("ix_push_deliveries_message_id_status", "message_id", "status"),
)

# Bulk imports (docs/decisions.md): ``position`` counts the data rows already applied; every batch
# moves it in the transaction that applies the batch, so a restarted worker resumes exactly there.
imports = Table(
    "imports",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("format", String(16), nullable=False),
    Column("dry_run", Boolean, nullable=False, default=False),
    Column("status", String(16), nullable=False),
    # False while the body is still being received; the worker starts only once it is whole.
    Column("uploaded", Boolean, nullable=False, default=False),
    Column("source", String(300), nullable=False),
    Column("rows", BigInteger, nullable=False, default=0),
    Column("created", BigInteger, nullable=False, default=0),
    Column("updated", BigInteger, nullable=False, default=0),
    Column("failed", BigInteger, nullable=False, default=0),
    Column("position", BigInteger, nullable=False, default=0),
    Column("error", Text, nullable=True),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

# The uploaded file, in order, in pieces of about a megabyte: the request streams into it and
# every worker of the deployment can read it (no shared disk needed).
import_chunks = Table(
    "import_chunks",
    metadata,
    Column("import_id", String(36), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),
    PrimaryKeyConstraint("import_id", "seq"),
)

# One line per failed row (a row fails whole, on its first invalid value).
import_errors = Table(
    "import_errors",
    metadata,
    Column("import_id", String(36), nullable=False),
    Column("row", BigInteger, nullable=False),
    Column("field", String(300), nullable=True),
    Column("code", String(64), nullable=False),
    Column("message", Text, nullable=False),
    PrimaryKeyConstraint("import_id", "row"),
)
