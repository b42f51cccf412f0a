"""A persons import's batches (``imports.batches``): the checks of a row that need no stored
data — parsing, cells, the API's ``PersonCreate`` model, identities (``persons.checked_row``)
— run before the writer's transaction, for the next batch in the helper process while the
writer applies and stores the one before.

The one stored thing those checks read is the person attribute definitions (a CSV cell of a
``number`` attribute is read as a number): the writer loads them again in its transaction,
and checks the batch again there if they changed since, so a batch is judged by the
definitions as they stand when it commits. Everything that depends on stored persons
(matching, merging the row into the person, the audit) stays in the writer, in file order.
"""

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from audience.db import Database
from audience.errors import ApiError
from audience.imports import persons
from audience.imports.batches import AheadBatches, Batch, RowError, row_error
from audience.imports.person_batch import Candidate, candidate_of
from audience.imports.reader import RawRow, parse


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
            checked.candidates.append(persons.checked_row(number, fields, types, is_csv))
        except ApiError as exc:
            checked.errors.append(row_error(number, exc))
    return checked


class PersonBatches(AheadBatches[CheckedPersons]):
    def __init__(
        self, db: Database, rows: Iterator[RawRow], size: int, is_csv: bool, use_helper: bool
    ) -> None:
        super().__init__(rows, size, use_helper)
        self.db = db
        self.is_csv = is_csv
        self.types: dict[str, str] | None = None  # as the writer last loaded them

    def check_here(self, batch: Batch) -> CheckedPersons:
        """The batch checked here, the next one handed to the helper first: it starts (a
        second or two the first time) while this one is checked and stored."""
        with self.db.read() as conn:
            types = persons.attribute_types(conn)
        if self.types is None:
            self.types = types
            self.read_ahead()
        return check_rows(batch.rows, self.is_csv, types)

    def helper_call(self, batch: Batch) -> tuple[Callable[..., CheckedPersons], tuple[Any, ...]]:
        return check_rows, (batch.rows, self.is_csv, self.types or {})

    def confirm(self, conn: Connection, batch: Batch, checked: CheckedPersons) -> CheckedPersons:
        """In the writer's transaction: the check as the definitions stand now (again, if
        they changed), and the next batch handed to the helper."""
        types = persons.attribute_types(conn)
        if types != checked.types:
            checked = check_rows(batch.rows, self.is_csv, types)
        self.types = types
        self.read_ahead()
        return checked
