"""``audience export persons|events``: stream an export to a file or stdout, from a running
server (``--base-url``) or straight from the database."""

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from audience.config import get_settings
from audience.db import Database, make_engine
from audience.exports import routes, service

export_cli = typer.Typer(help="Export persons or events as CSV or NDJSON (docs/decisions.md).")

FormatOpt = Annotated[str, typer.Option("--format", help="csv or ndjson")]
OutputOpt = Annotated[Path | None, typer.Option("--output", "-o", help="File (default: stdout)")]
BaseUrlOpt = Annotated[
    str | None, typer.Option(help="A running Audience server (default: the database directly)")
]
ApiKeyOpt = Annotated[str | None, typer.Option(envvar="AUDIENCE_API_KEY", help="A read key")]


def _write(chunks: Iterator[str] | Iterator[bytes], output: Path | None) -> None:
    target = output.open("wb") if output else sys.stdout.buffer
    try:
        for chunk in chunks:
            target.write(chunk.encode() if isinstance(chunk, str) else chunk)
    finally:
        if output:
            target.close()


def _remote(
    path: str, params: dict[str, Any], base_url: str, api_key: str | None
) -> Iterator[bytes]:
    if not api_key:
        raise typer.BadParameter("give --api-key or set AUDIENCE_API_KEY", param_hint="--api-key")
    headers = {"Authorization": f"App {api_key}"}
    query = {k: v for k, v in params.items() if v is not None}
    with (
        httpx.Client(base_url=base_url, headers=headers, timeout=None) as client,
        client.stream("GET", path, params=query) as response,
    ):
        if response.status_code != 200:
            response.read()
            raise typer.BadParameter(response.text)
        yield from response.iter_bytes()


def _check_format(file_format: str) -> None:
    if file_format not in ("csv", "ndjson"):
        raise typer.BadParameter("csv or ndjson", param_hint="--format")


@export_cli.command("persons")
def export_persons(
    file_format: FormatOpt = "csv",
    output: OutputOpt = None,
    segment_id: Annotated[str | None, typer.Option(help="Only this segment's members")] = None,
    base_url: BaseUrlOpt = None,
    api_key: ApiKeyOpt = None,
) -> None:
    """Export persons."""
    _check_format(file_format)
    if base_url:
        params = {"format": file_format, "segmentId": segment_id}
        _write(_remote("/v1/exports/persons", params, base_url, api_key), output)
        return
    settings = get_settings()
    db = Database(make_engine(settings.database_url, pool_size=2))
    _write(service.persons_export(db, file_format, segment_id, settings.export_threads), output)
    db.close()


@export_cli.command("events")
def export_events(
    file_format: FormatOpt = "csv",
    output: OutputOpt = None,
    since: Annotated[str | None, typer.Option("--from", help="occurredAt from (ISO 8601)")] = None,
    until: Annotated[str | None, typer.Option("--to", help="occurredAt to (ISO 8601)")] = None,
    definition_id: Annotated[str | None, typer.Option(help="Only this definition")] = None,
    base_url: BaseUrlOpt = None,
    api_key: ApiKeyOpt = None,
) -> None:
    """Export events."""
    _check_format(file_format)
    if base_url:
        params = {"format": file_format, "from": since, "to": until, "definitionId": definition_id}
        _write(_remote("/v1/exports/events", params, base_url, api_key), output)
        return
    db = Database(make_engine(get_settings().database_url, pool_size=2))
    chunks = service.events_export(
        db,
        file_format,
        routes.parse_time(since, "from"),
        routes.parse_time(until, "to"),
        definition_id,
    )
    _write(chunks, output)
    db.close()
