"""An import's batches read one ahead: while the writer stores a batch, the next one is read
and, with a helper process (``imports.helper``), checked there meanwhile.

The kinds differ only in how a batch is checked (``EventBatches``, ``PersonBatches``): the
check needs no database, so it runs in the helper, or in the writer before its transaction
(the first batch of a step, or when the helper is gone). Each kind's ``confirm`` then looks
again, in the writer's transaction, at the stored data the check relied on, and checks the
batch again there if it changed — a batch is judged by the rules as they stand when it
commits. Rows are stored in file order whatever process checked them: the writer takes the
batches one after the other.
"""

import itertools
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from audience.errors import ApiError
from audience.imports import helper as helpers
from audience.imports.reader import UnreadableFile
from audience.imports.rows import RawRow, RowError

Checked = TypeVar("Checked")


def api_errors(errors: list[RowError]) -> dict[int, ApiError]:
    return {
        number: ApiError(status, code, message, field)
        for number, status, code, message, field in errors
    }


@dataclass
class Batch:
    rows: list[RawRow]
    future: "Future[Any] | None" = None  # the helper's check of it, if it has one


class AheadBatches(Iterator[Batch], Generic[Checked]):
    def __init__(self, rows: Iterator[RawRow], size: int, use_helper: bool) -> None:
        self.rows = rows
        self.size = size
        self.use_helper = use_helper and helpers.available()
        self.helper: helpers.Helper | None = None
        # The helper's last check handed out, and whether it has finished one yet (until then
        # it is starting: a second or two of imports, more on a loaded machine).
        self._pending: Future[Any] | None = None
        self._warm = False
        self.helped = 0  # batches whose helper's check was used
        self._ahead: Batch | None = None
        self._unreadable: UnreadableFile | None = None  # met reading ahead: raised in turn

    # --- what a kind of import supplies -----------------------------------------------------

    def check_here(self, batch: Batch) -> Checked:
        """The batch checked in this process (reading what it needs in a short read)."""
        raise NotImplementedError

    def helper_call(self, batch: Batch) -> tuple[Callable[..., Checked], tuple[Any, ...]]:
        """The check the helper runs for the batch: a module-level function and its args."""
        raise NotImplementedError

    # --- shared -----------------------------------------------------------------------------

    def __next__(self) -> Batch:
        batch, self._ahead = self._ahead, None
        if self._unreadable is not None:
            raise self._unreadable
        if batch is None:
            batch = self._read()
        if batch is None:
            self.close(wait=True)
            raise StopIteration
        return batch

    def _read(self) -> Batch | None:
        rows = list(itertools.islice(self.rows, self.size))
        return Batch(rows) if rows else None

    def checked(self, batch: Batch) -> Checked:
        """The batch checked: by the helper, or here — also when the helper has not finished
        starting yet: the writer does not wait for its start-up (the helper then finishes
        that check for nothing, and gets the next batch once it is free)."""
        if batch.future is not None and (self._warm or batch.future.done()):
            try:
                result: Checked = batch.future.result()
                self.helped += 1
                return result
            except Exception:  # a dead helper, or a bug there: this import checks here now
                if self.helper is not None:
                    self.helper.drop()
                self.use_helper = False
        return self.check_here(batch)

    def read_ahead(self) -> None:
        """The next batch read now and, with a helper, checked there meanwhile (a one-batch
        file never starts one). Called by ``confirm``, in the writer's transaction (and for
        persons also before the first batch of a step is checked)."""
        if self._ahead is not None or self._unreadable is not None:
            return
        try:
            self._ahead = self._read()
        except UnreadableFile as exc:  # the batch being stored is whole: it still commits
            self._unreadable = exc
            return
        if self._ahead is None or not self.use_helper:
            return
        if self._pending is not None and not self._pending.done():
            return  # still on a check the writer did not wait for: this batch is the writer's
        if self.helper is None:
            self.helper = helpers.Helper()
        check, args = self.helper_call(self._ahead)
        self._ahead.future = self._pending = self.helper.submit(check, *args)
        if self._pending is not None:
            self._pending.add_done_callback(self._finished)

    def _finished(self, _future: "Future[Any]") -> None:
        self._warm = True

    def wait_for_helper(self, timeout: float) -> None:
        """Until the helper has finished the check it is on (tests: so the batches after it
        are checked there, not by a writer that did not wait for the helper's start-up)."""
        if self._pending is not None:
            self._pending.exception(timeout)

    def close(self, wait: bool = False) -> None:
        if self.helper is not None:
            self.helper.close(wait)
            self.helper = None
