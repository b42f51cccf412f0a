"""An events import's batches, each checked before the writer's transaction, the next one in
the helper process (``imports.helper``) while the writer stores the one before.

The writer always loads the batch's definitions again in its transaction: if any of them
differs from what the check saw (a definition created, changed or deactivated meanwhile), or
the check is older than a minute, the batch is checked again there, so a batch is stored by
the rules as they stand when it commits — as before, when every check ran inside it.
"""

import itertools
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection

from audience.clock import utcnow
from audience.db import Database
from audience.events.definitions import load_for_ingestion
from audience.imports import helper as helpers
from audience.imports.event_checks import CheckedBatch, Definitions, check_rows
from audience.imports.reader import RawRow, UnreadableFile

# How old a check may be when its batch is stored (its "now" decides dates in the future and
# the date of rows without one).
MAX_CHECK_AGE = timedelta(minutes=1)


@dataclass
class EventBatch:
    rows: list[RawRow]
    future: "Future[CheckedBatch] | None" = None  # the helper's check of it, if it has one


class EventBatches(Iterator[EventBatch]):
    def __init__(
        self,
        db: Database,
        rows: Iterator[RawRow],
        size: int,
        is_csv: bool,
        use_helper: bool,
    ) -> None:
        self.db = db
        self.rows = rows
        self.size = size
        self.is_csv = is_csv
        self.use_helper = use_helper and helpers.available()
        self.helper: helpers.Helper | None = None
        # The definitions the writer last loaded, by id: what the helper checks against.
        self.snapshot: dict[str, Any] = {}
        self._ahead: EventBatch | None = None
        self._unreadable: UnreadableFile | None = None  # met reading ahead: raised in turn

    def __next__(self) -> EventBatch:
        batch, self._ahead = self._ahead, None
        if self._unreadable is not None:
            raise self._unreadable
        if batch is None:
            batch = self._read()
        if batch is None:
            self.close(wait=True)
            raise StopIteration
        return batch

    def _read(self) -> EventBatch | None:
        rows = list(itertools.islice(self.rows, self.size))
        return EventBatch(rows) if rows else None

    def checked(self, batch: EventBatch) -> CheckedBatch:
        """The batch checked: by the helper, or here (definitions read in a short read)."""
        if batch.future is not None:
            try:
                return batch.future.result()
            except Exception:  # a dead helper, or a bug there: this import checks here now
                if self.helper is not None:
                    self.helper.drop()
                self.use_helper = False
        with self.db.read() as conn:
            return check_rows(
                batch.rows,
                self.is_csv,
                lambda ids: load_for_ingestion(conn, ids),
                utcnow(),
                self.db.is_sqlite,
            )

    def confirm(self, conn: Connection, batch: EventBatch, checked: CheckedBatch) -> CheckedBatch:
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
        self._read_ahead()
        return checked

    def _learn(self, ids: set[str], definitions: Definitions) -> None:
        for definition_id in ids:
            if definition_id in definitions:
                self.snapshot[definition_id] = definitions[definition_id]
            else:
                self.snapshot.pop(definition_id, None)

    def _read_ahead(self) -> None:
        """The next batch read now and, with a helper, checked there meanwhile (a one-batch
        file never starts one)."""
        if self._ahead is not None or self._unreadable is not None:
            return
        try:
            self._ahead = self._read()
        except UnreadableFile as exc:  # the batch being stored is whole: it still commits
            self._unreadable = exc
            return
        if self._ahead is None or not self.use_helper:
            return
        if self.helper is None:
            self.helper = helpers.Helper()
        self._ahead.future = self.helper.submit(
            self._ahead.rows, self.is_csv, dict(self.snapshot), utcnow(), self.db.is_sqlite
        )

    def close(self, wait: bool = False) -> None:
        if self.helper is not None:
            self.helper.close(wait)
            self.helper = None
