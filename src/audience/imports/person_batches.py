"""A persons import's batches (``imports.batches``): each checked before the writer's
transaction (``person_checks``), the next one in the helper process while the writer applies
and stores the one before.

The one stored thing those checks read is the person attribute definitions (a CSV cell of a
``number`` attribute is read as a number): the writer loads them again in its transaction,
and checks the batch again there if they changed since, so a batch is judged by the
definitions as they stand when it commits.
"""

from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import Connection

from audience.db import Database
from audience.imports import person_checks, persons
from audience.imports.batches import AheadBatches, Batch
from audience.imports.person_checks import CheckedPersons, check_rows
from audience.imports.rows import RawRow


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
        return person_checks.helper_call(batch.rows, self.is_csv, self.types or {})

    def confirm(self, conn: Connection, batch: Batch, checked: CheckedPersons) -> CheckedPersons:
        """In the writer's transaction: the check as the definitions stand now (again, if
        they changed), and the next batch handed to the helper."""
        types = persons.attribute_types(conn)
        if types != checked.types:
            checked = check_rows(batch.rows, self.is_csv, types)
        self.types = types
        self.read_ahead()
        return checked
