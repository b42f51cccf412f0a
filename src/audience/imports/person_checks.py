"""A persons import's row checks that need no stored data — parsing, cells, the API's
``PersonCreate`` model, identities — run before the writer's transaction: for the next batch
in the helper process (``imports.helper``) while the writer applies and stores the one
before (``person_batches``), else in the writer.

Plain checks of data, no database and no web framework, so the helper runs them without
loading the app (tests/imports/test_helper_imports.py keeps it so). The one stored thing they
read is the person attribute definitions' types (a CSV cell of a ``number`` attribute is read
as a number), handed in. Everything that depends on stored persons (matching, merging the row
into the person, the audit) stays in the writer, in file order (``person_batch``).
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from audience.error_codes import (
    ApiError,
    InvalidCustomAttribute,
    UserIdentityInvalid,
    error_from_validation,
)
from audience.imports.cells import nest, plain_fields
from audience.imports.rows import RawRow, RowError, parse, row_error
from audience.persons import identities
from audience.persons.identities import Identity, read_identity
from audience.persons.schemas import PersonCreate

# Written by exports, read-only here.
IGNORED_COLUMNS = frozenset({"id", "type", "createdAt", "updatedAt", "installations"})


@dataclass
class Candidate:
    """A row that passed the checks needing no stored data (``checked_row``)."""

    number: int
    fields: dict[str, Any]
    identity: Identity


def candidate_of(row: tuple[Any, ...]) -> Candidate:
    """A candidate from (number, fields, externalUserId, phones, emails)."""
    number, fields, ext, phones, emails = row
    return Candidate(number, fields, Identity(ext, phones, emails))


@dataclass
class CheckedPersons:
    candidates: list[Candidate] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    types: dict[str, str] = field(default_factory=dict)  # the definitions the check used

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as plain tuples: unpickling a batch's dataclasses cost the writer twice
        as much (it receives the helper's checks)."""
        rows = [
            (c.number, c.fields, c.identity.external_user_id, c.identity.phones, c.identity.emails)
            for c in self.candidates
        ]
        return _unpickle, (rows, self.errors, self.types)


def _unpickle(
    rows: list[tuple[Any, ...]], errors: list[RowError], types: dict[str, str]
) -> CheckedPersons:
    return CheckedPersons(list(map(candidate_of, rows)), errors, types)


def _invalid_attribute(name: str, value: Any) -> ApiError:
    return InvalidCustomAttribute(
        f"Custom attribute '{name}': {value!r} is not of its type", f"customAttributes.{name}"
    )


def person_body(row: Mapping[str, Any], types: Mapping[str, str], is_csv: bool) -> dict[str, Any]:
    body = plain_fields(row, IGNORED_COLUMNS, "custom.", "customAttributes", is_csv)
    custom = nest(row, "custom.", "customAttributes", types, is_csv, _invalid_attribute)
    if custom is not None:
        body["customAttributes"] = custom
    return body


def checked_fields(body: dict[str, Any]) -> dict[str, Any]:
    """The row through the API's own request model (limits, types, unknown fields)."""
    try:
        model = PersonCreate.model_validate(body)
    except ValidationError as exc:
        raise error_from_validation(exc.errors()) from None
    # ``model.sent()`` without its serializer pass: PersonCreate holds no nested models, so
    # the attributes are what ``model_dump`` would answer.
    return {name: getattr(model, name) for name in model.model_fields_set}


def no_identity() -> ApiError:
    return UserIdentityInvalid("A row needs externalUserId, a phone or an email")


def checked_row(
    number: int, raw: Mapping[str, Any], types: Mapping[str, str], is_csv: bool
) -> Candidate:
    """The checks of a row that need no stored data, in the row-at-a-time path's order."""
    fields = checked_fields(person_body(raw, types, is_csv))
    identity = read_identity(fields)
    if identity.is_empty():
        raise no_identity()
    return Candidate(number, fields, identity)


def check_rows(rows: Sequence[RawRow], is_csv: bool, types: dict[str, str]) -> CheckedPersons:
    """Parse and check each row (what the helper process runs); nothing here reads or writes
    the database."""
    checked = CheckedPersons(types=types)
    for raw in rows:
        number, fields, reason = parse(raw)
        if fields is None:
            checked.errors.append((number, 400, "VALIDATION_ERROR", reason or "", None))
            continue
        try:
            checked.candidates.append(checked_row(number, fields, types, is_csv))
        except ApiError as exc:
            checked.errors.append(row_error(number, exc))
    return checked


def helper_call(
    rows: Sequence[RawRow], is_csv: bool, types: dict[str, str]
) -> tuple[Callable[..., CheckedPersons], tuple[Any, ...]]:
    """The helper's check of a batch: ``check_rows`` with this process's blocked identity
    values, which the spawned helper has not read (``guardrails.configure`` sets them in the
    server's processes at start; the helper would check against the defaults)."""
    return _check_in_helper, (rows, is_csv, types, identities.blocked())


def _check_in_helper(
    rows: Sequence[RawRow], is_csv: bool, types: dict[str, str], blocked: frozenset[str]
) -> CheckedPersons:
    identities.block(blocked)
    return check_rows(rows, is_csv, types)
