"""``audience import persons|events FILE``: against a running server (``--base-url``) or
straight against the database, with a progress bar either way."""

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from audience.config import get_settings
from audience.db import Database, make_engine
from audience.imports import queries, service

import_cli = typer.Typer(help="Import persons or events from CSV or NDJSON (docs/decisions.md).")
PIECE = 1 << 20

FileArg = Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)]
FormatOpt = Annotated[
    str | None, typer.Option("--format", help="csv or ndjson (default: from the file name)")
]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Check and count, change nothing")]
BaseUrlOpt = Annotated[
    str | None, typer.Option(help="A running Audience server (default: the database directly)")
]
ApiKeyOpt = Annotated[str | None, typer.Option(envvar="AUDIENCE_API_KEY", help="A write key")]


def _format(path: Path, given: str | None) -> str:
    if given is not None:
        if given not in ("csv", "ndjson"):
            raise typer.BadParameter("csv or ndjson", param_hint="--format")
        return given
    return "ndjson" if path.suffix.lower() in (".ndjson", ".jsonl") else "csv"


def _count_rows(path: Path, file_format: str) -> int:
    """Lines, minus a CSV's header: the bar's total (exact unless cells hold line breaks)."""
    lines = 0
    with path.open("rb") as handle:
        while piece := handle.read(PIECE):
            lines += piece.count(b"\n")
    return max(lines - (1 if file_format == "csv" else 0), 0)


def _pieces(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while piece := handle.read(PIECE):
            yield piece


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )


def _report(job: dict[str, Any]) -> None:
    typer.echo(
        f"import {job['id']}: {job['status']}, {job['rows']} rows, {job['created']} created, "
        f"{job['updated']} updated, {job['failed']} failed"
        + (f" ({job['error']})" if job.get("error") else "")
    )
    if job["status"] == "failed":
        raise typer.Exit(1)


def _remote(
    kind: str, path: Path, file_format: str, dry_run: bool, base_url: str, api_key: str | None
) -> None:
    if not api_key:
        raise typer.BadParameter("give --api-key or set AUDIENCE_API_KEY", param_hint="--api-key")
    headers = {"Authorization": f"App {api_key}"}
    total = _count_rows(path, file_format)
    params = {"kind": kind, "format": file_format, "dryRun": str(dry_run).lower()}
    with (
        httpx.Client(base_url=base_url, headers=headers, timeout=None) as client,
        _progress() as bar,
    ):
        task = bar.add_task(f"{kind}: uploading", total=total)
        response = client.post("/v1/imports", params=params, content=_pieces(path))
        if response.status_code != 202:
            raise typer.BadParameter(response.text)
        import_id = response.json()["id"]
        bar.update(task, description=f"{kind}: applying")
        while True:
            job = client.get(f"/v1/imports/{import_id}").json()
            bar.update(task, completed=job["rows"])
            if job["status"] != "running":
                break
            time.sleep(0.5)
    _report(job)


def _local(kind: str, path: Path, file_format: str, dry_run: bool) -> None:
    settings = get_settings()
    db = Database(make_engine(settings.database_url, pool_size=2))
    total = _count_rows(path, file_format)
    with db.write() as conn:
        import_id = service.create_import(conn, kind, file_format, dry_run, "cli")
    for seq, piece in enumerate(service.chunks_of(_pieces(path))):
        with db.write() as conn:
            queries.insert_chunk(conn, import_id, seq, piece)
    with db.write() as conn:
        # Handed to the worker too: if this command dies, a running worker resumes the job.
        service.finish_upload(conn, import_id)
    with _progress() as bar:
        task = bar.add_task(f"{kind}: applying", total=total)
        while True:
            finished = service.run_step(db, settings, import_id, budget_seconds=0.5)
            with db.read() as conn:
                row = queries.find(conn, import_id)
            assert row is not None
            bar.update(task, completed=int(row.rows))
            if finished:
                break
    _report(service.import_to_api(row))
    db.close()


def _command(kind: str) -> Any:
    def run(
        file: FileArg,
        file_format: FormatOpt = None,
        dry_run: DryRunOpt = False,
        base_url: BaseUrlOpt = None,
        api_key: ApiKeyOpt = None,
    ) -> None:
        chosen = _format(file, file_format)
        if base_url:
            _remote(kind, file, chosen, dry_run, base_url, api_key)
        else:
            _local(kind, file, chosen, dry_run)

    run.__doc__ = f"Import {kind} from a CSV or NDJSON file."
    return run


import_cli.command("persons")(_command("persons"))
import_cli.command("events")(_command("events"))
