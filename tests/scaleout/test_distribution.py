"""The schema against the Citus distribution of docs/scale-out.md: every table is classified,
distributed tables have no foreign key to another distributed table, and every unique
constraint of a distributed table holds its distribution column — except the few listed
below, which the Citus migration replaces as the document says (a new exception fails here
until it is written down there)."""

from sqlalchemy import ForeignKeyConstraint, PrimaryKeyConstraint, UniqueConstraint

from audience.tables import metadata

DISTRIBUTED = {
    "persons": "id",
    "person_tags": "person_id",
    "person_changes": "person_id",
    "person_aliases": "alias_id",
    "person_identities": "value",
    "installations": "push_registration_id",
    "app_launches": "push_registration_id",
    "events": "person_id",
    "segment_members": "person_id",
    "segment_due": "person_id",
    "flow_runs": "person_id",
}
REFERENCE = {
    "applications",
    "api_keys",
    "attribute_definitions",
    "event_definitions",
    "segments",
    "flows",
    "flow_versions",
    "webhook_endpoints",
    "push_credentials",
}
# Small or transient tables the coordinator keeps (work queues, upload staging).
COORDINATOR = {
    "outbox",
    "imports",
    "import_chunks",
    "import_errors",
    "used_jwt_ids",
    "rate_limit_counters",
    "person_merges",
    "webhook_deliveries",
    "push_messages",
    "push_deliveries",
}

# Unique keys the Citus migration replaces (docs/scale-out.md, "What changes in the schema").
REPLACED_UNIQUE_KEYS = {
    ("persons", ("external_user_id",)),  # -> person_identities row (kind 'externalUserId')
    ("person_changes", ("id",)),  # -> (person_id, id)
    ("events", ("id",)),  # -> (person_id, id)
    ("events", ("push_registration_id", "event_id")),  # -> (person_id, push_reg..., event_id)
    ("flow_runs", ("id",)),  # -> (person_id, id)
}


def _unique_keys(table_name: str) -> set[tuple[str, ...]]:
    table = metadata.tables[table_name]
    keys = set()
    for constraint in table.constraints:
        if isinstance(constraint, PrimaryKeyConstraint | UniqueConstraint):
            keys.add(tuple(column.name for column in constraint.columns))
    for index in table.indexes:
        if index.unique:
            keys.add(tuple(column.name for column in index.columns))  # type: ignore[union-attr]
    return {key for key in keys if key}


def test_every_table_has_a_place_in_the_distribution() -> None:
    placed = set(DISTRIBUTED) | REFERENCE | COORDINATOR
    assert set(metadata.tables) == placed
    assert not (set(DISTRIBUTED) & REFERENCE) and not (REFERENCE & COORDINATOR)


def test_unique_keys_of_distributed_tables_hold_the_distribution_column() -> None:
    offending = {
        (name, key)
        for name, column in DISTRIBUTED.items()
        for key in _unique_keys(name)
        if column not in key
    }
    assert offending == REPLACED_UNIQUE_KEYS


def test_no_foreign_key_between_distributed_tables() -> None:
    for name in DISTRIBUTED:
        for constraint in metadata.tables[name].constraints:
            if isinstance(constraint, ForeignKeyConstraint):
                assert constraint.referred_table.name in REFERENCE, (name, constraint.name)


def test_distribution_columns_exist_and_are_never_null() -> None:
    for name, column in DISTRIBUTED.items():
        assert not metadata.tables[name].c[column].nullable, (name, column)
