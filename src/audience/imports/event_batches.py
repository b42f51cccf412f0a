"""An events import's batches (``imports.batches``): each checked before the writer's
transaction, the next one in the helper process while the writer stores the one before.

The writer always loads the batch's definitions again in its transaction: if any of them
differs from what the check saw (a definition created, changed or deactivated meanwhile), or
the check is older than a minute, the batch is checked again there, so a batch is stored by
the rules as they stand when it commits — as before, when every check ran inside it.
"""

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection

from audience.clock import utcnow
from audience.db import Database
from audience.events.definitions import load_for_ingestion
from audience.imports import event_checks
from audience.imports.batches import AheadBatches, Batch
from audience.imports.event_checks import CheckedBatch, Definitions, check_rows
from audience.imports.rows import RawRow

# How old a check may be when its batch is stored (its "now" decides dates in the future and
# the date of rows without one).
MAX_CHECK_AGE = timedelta(minutes=1)


class EventBatches(AheadBatches[CheckedBatch]):
    def __init__(
        self,
        db: Database,
        rows: Iterator[RawRow],
        size: int,
        is_csv: bool,
        use_helper: bool,
    ) -> None:
        super().__init__(rows, size, use_helper)
        self.db = db
        self.is_csv = is_csv
        # The definitions the writer last loaded, by id: what the helper checks against.
        self.snapshot: dict[str, Any] = {}

    def check_here(self, batch: Batch) -> CheckedBatch:
        with self.db.read() as conn:
            return check_rows(
                batch.rows,
                self.is_csv,
                lambda ids: load_for_ingestion(conn, ids),
                utcnow(),
                self.db.is_sqlite,
            )

    def helper_call(self, batch: Batch) -> tuple[Callable[..., CheckedBatch], tuple[Any, ...]]:
        args = (batch.rows, self.is_csv, dict(self.snapshot), utcnow(), self.db.is_sqlite)
        return event_checks.check_with_snapshot, args

    def confirm(self, conn: Connection, batch: Batch, checked: CheckedBatch) -> CheckedBatch:
        """In the writer's transaction: the check as of now (again, if definitions changed),
        and the next batch handed to the helper."""
        definitions = load_for_ingestion(conn, checked.definition_ids)
        now = utcnow()
        if definitions != checked.definitions or (checked.now or now) < now - MAX_CHECK_AGE:
            checked = check_rows(
                batch.rows,
                self.is_csv,
                lambda ids: load_for_ingestion(conn, ids),
                now,
                self.db.is_sqlite,
            )
            definitions = dict(checked.definitions)
        self._learn(checked.definition_ids, definitions)
        self.read_ahead()
        return checked

    def _learn(self, ids: set[str], definitions: Definitions) -> None:
        for definition_id in ids:
            if definition_id in definitions:
                self.snapshot[definition_id] = definitions[definition_id]
            else:
                self.snapshot.pop(definition_id, None)
