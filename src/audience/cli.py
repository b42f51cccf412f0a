"""The ``audience`` command: serve, migrate, bootstrap applications and API keys, simulate."""

import asyncio
import json
import logging
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from audience import simulate as simulation
from audience.apps.service import create_app as create_application
from audience.auth.service import admin_key_problem, create_key, ensure_bootstrap_key
from audience.config import Settings, get_settings
from audience.db import Database, make_engine, make_migration_engine
from audience.errors import error_codes_markdown
from audience.exports.cli import export_cli
from audience.imports.cli import import_cli
from audience.migrate import upgrade
from audience.observability import configure_logging
from audience.segments.upkeep import sweep_all
from audience.worker import Worker, drain

app = typer.Typer(help="Audience: self-hosted mobile audience profiling.", no_args_is_help=True)
apps_cli = typer.Typer(help="Manage applications.", no_args_is_help=True)
keys_cli = typer.Typer(help="Manage server API keys.", no_args_is_help=True)
segments_cli = typer.Typer(help="Maintain segments.", no_args_is_help=True)
app.add_typer(apps_cli, name="apps")
app.add_typer(keys_cli, name="api-keys")
app.add_typer(segments_cli, name="segments")
app.add_typer(import_cli, name="import")
app.add_typer(export_cli, name="export")


def _database() -> Database:
    return Database(make_migration_engine(get_settings().database_url))


@app.command("error-codes")
def error_codes() -> None:
    """Print docs/errors.md: every error code, its status and meaning (from error_codes.py)."""
    typer.echo(error_codes_markdown(), nl=False)


@app.command()
def migrate() -> None:
    """Bring the database schema up to date."""
    applied = upgrade(get_settings().database_url)
    typer.echo("migrated" if applied else "already up to date")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes")] = 1,
) -> None:
    """Migrate a new or outdated database, then serve the HTTP API."""
    settings = get_settings()
    problem = admin_key_problem(settings.admin_key) if settings.admin_key is not None else None
    if problem:
        typer.echo(f"error: {problem}", err=True)
        raise typer.Exit(2)
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Each worker writes its metrics here so /metrics can sum all of them.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="audience-metrics-")
    upgrade(settings.database_url)
    if settings.admin_key:
        db = _database()
        with db.write() as conn:
            ensure_bootstrap_key(conn, settings.admin_key)
        db.close()
    # Hand the process over to a fresh uvicorn: the supervisor of several workers then holds
    # only uvicorn, not everything this command imported (about 60 MB less per server).
    os.execv(
        sys.executable,
        [
            sys.executable,
            "-m",
            "uvicorn",
            "audience.app:create_app_from_env",
            "--factory",
            "--host",
            host,
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--no-access-log",
            "--timeout-graceful-shutdown",
            "30",
        ],
    )


@app.command()
def worker(
    once: Annotated[bool, typer.Option("--once", help="Handle what is due now, then exit")] = False,
) -> None:
    """Run the background worker alone (deliveries, timers, sends, imports, sweeps).

    ``audience serve`` runs one inside each server process already; run this beside servers
    started with ``AUDIENCE_EMBEDDED_WORKER=0`` to scale background work separately."""
    settings = get_settings()
    configure_logging(settings.log_level)
    upgrade(settings.database_url)
    db = Database(make_engine(settings.database_url, settings.db_pool_size))
    if once:
        drain(db, settings)
        return
    asyncio.run(_run_worker_until_signalled(db, settings))


async def _run_worker_until_signalled(db: Database, settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    logging.getLogger("audience.worker").info("worker started")
    await Worker(db, settings).run(stop)


@apps_cli.command("create")
def apps_create(
    name: str,
    require_user_jwt: Annotated[bool, typer.Option("--require-user-jwt")] = False,
) -> None:
    """Create an application; prints its applicationCode and JWT secret (shown only now)."""
    upgrade(get_settings().database_url)
    db = _database()
    with db.write() as conn:
        created = create_application(conn, name, require_user_jwt)
    typer.echo(json.dumps(created, indent=2))


@keys_cli.command("create")
def api_keys_create(
    name: str,
    scope: Annotated[list[str], typer.Option("--scope", help="read, write or admin")],
) -> None:
    """Create a server API key; prints the key (shown only now)."""
    for one in scope:
        if one not in ("read", "write", "admin"):
            raise typer.BadParameter(f"unknown scope {one!r}", param_hint="--scope")
    upgrade(get_settings().database_url)
    db = _database()
    with db.write() as conn:
        created = create_key(conn, name, scope)
    typer.echo(json.dumps(created, indent=2))


@segments_cli.command("refresh")
def segments_refresh() -> None:
    """Re-evaluate every saved segment now (what the server's periodic sweep does)."""
    upgrade(get_settings().database_url)
    db = _database()
    swept = sweep_all(db)
    typer.echo(f"refreshed {swept} segments")


@app.command()
def simulate(
    devices: Annotated[int, typer.Option(min=1, help="Simulated app installs")] = 100,
    days: Annotated[float, typer.Option(min=0.1, help="Days of history (at most 29.5 kept)")] = 30,
    base_url: Annotated[str, typer.Option(help="A running Audience server")] = (
        "http://127.0.0.1:8000"
    ),
    api_key: Annotated[
        str, typer.Option(envvar="AUDIENCE_ADMIN_KEY", help="Admin API key (creates app, etc.)")
    ] = "",
    app_name: Annotated[str, typer.Option(help="Application to fill (created if missing)")] = (
        simulation.APP_NAME
    ),
    concurrency: Annotated[int, typer.Option(min=1, max=256, help="Devices at a time")] = 16,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same fleet)")] = 1,
    storage_dir: Annotated[
        Path | None, typer.Option(help="Keep the devices' SDK storage here (default: temporary)")
    ] = None,
) -> None:
    """Fill a running server with a realistic fleet of installs driven by the client SDK."""
    if not api_key:
        raise typer.BadParameter("give --api-key or set AUDIENCE_ADMIN_KEY", param_hint="--api-key")
    # events the server drops are the fleet's own business; keep the progress bar readable
    logging.getLogger("audience.client").setLevel(logging.ERROR)
    started = time.perf_counter()
    with Progress(
        TextColumn("[bold]simulating"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("devices · {task.fields[events]} events"),
        TimeElapsedColumn(),
    ) as progress:
        task = progress.add_task("devices", total=devices, events=0)
        counted = simulation.Stats()

        def on_device(stats: simulation.Stats) -> None:
            counted.add(stats)
            progress.update(task, advance=1, events=counted.events)

        total, code = simulation.run(
            base_url,
            api_key,
            devices,
            days,
            app_name=app_name,
            concurrency=concurrency,
            seed=seed,
            storage_dir=storage_dir,
            on_device=on_device,
        )
    seconds = time.perf_counter() - started
    typer.echo(
        f"{total.devices} devices, {total.logins} logins, {total.logouts} logouts, "
        f"{total.events} events in {seconds:.1f} s (application {app_name!r}, code {code})"
    )
