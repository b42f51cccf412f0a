"""Settings read from the environment (prefix ``AUDIENCE_``)."""

from functools import lru_cache
from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AUDIENCE_", extra="ignore")

    database_url: str = "sqlite:///./audience.db"
    admin_key: str | None = None
    max_body_bytes: int = 5 * 1024 * 1024
    # Pool size per worker process; SQLite ignores it.
    db_pool_size: int = 20
    # Seconds between sweeps that re-evaluate segments' time windows; 0 turns them off.
    segment_sweep_seconds: float = 60
    # Mixed into console session signatures; changing it signs everybody out of the console.
    console_secret: str = ""
    console_session_hours: float = 12
    # The background worker (audience.worker) runs inside every serving process unless this is
    # off (then run ``audience worker`` beside the server).
    embedded_worker: bool = True
    # Seconds an idle worker waits before looking for due outbox items again.
    worker_poll_seconds: float = 0.1
    # SQLite: the worker copies the WAL into the database file this often (0: commits do it
    # past 64 MB); see ``db.WAL_AUTOCHECKPOINT_PAGES``.
    wal_checkpoint_seconds: float = 0.25
    # Outbox items handled at once per worker process, and claimed per round.
    worker_concurrency: int = 500
    worker_batch_size: int = 200
    # A claimed item whose worker died comes due again after this many seconds.
    outbox_lease_seconds: float = 60
    # How long a stopping worker lets in-flight work finish.
    worker_shutdown_seconds: float = 10
    # Timeout of one outbound HTTP call (webhook deliveries).
    webhook_timeout_seconds: float = 10
    # Rate limits (docs/security.md), shared by every worker through the database; 0 turns one off.
    # Failed authentications (401 answers) per client address and minute:
    rate_limit_failed_auth_per_minute: int = 100
    # Requests per credential (API key or application code, shared by all of an app's
    # devices) and minute: a guard against runaway clients, not a per-device quota.
    rate_limit_requests_per_minute: int = 100_000
    # Lowest level of the JSON log lines on stderr. At WARNING the access log (one line a
    # request, ~40 µs of CPU each) is off, as benchmarks run their peers (docs/performance.md).
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # Time budget of one SQL statement; past it the request answers 503 QUERY_TIMEOUT.
    statement_timeout_seconds: float = 30
    # Identity values that name nobody (SDK placeholders); comma-separated, any case.
    blocked_identities: str = "null,undefined,none,anonymous,unknown,0,-1"
    # Personalizing one more device than this evicts the person's least recently seen one.
    max_installations_per_person: int = 50
    # Webhook URLs resolving to loopback, private or link-local addresses are refused unless
    # this is on (docs/webhooks.md; for receivers on the same host or network).
    webhook_allow_private: bool = False
    # First retry delay of a failed webhook delivery; each later one is three times longer,
    # capped at a day (5 s, 15 s, 45 s … 24 h).
    webhook_retry_base_seconds: float = 5
    # Push (docs/push.md). The secret key (≥ 32 characters) encrypts push credentials at rest;
    # without it, credentials cannot be stored.
    secret_key: str = ""
    fcm_url: str = "https://fcm.googleapis.com"
    apns_url: str = "https://api.push.apple.com"
    apns_sandbox_url: str = "https://api.sandbox.push.apple.com"
    # A PEM file of extra certificate authorities trusted for provider connections (tests,
    # corporate proxies); empty: the system's.
    push_ca_file: str = ""
    # "live" sends through FCM/APNs; "log" only logs what would be sent (development).
    push_provider: str = "live"
    # Deliveries per outbox item, and provider requests in flight per worker process.
    push_chunk_size: int = 500
    push_concurrency: int = 64
    push_chunks_in_flight: int = 4
    # Attempts of one delivery (429/5xx/network) before it is reported failed.
    push_max_attempts: int = 8
    push_timeout_seconds: float = 10
    # Events older than this many days are removed in the background; 0 keeps them forever.
    event_retention_days: int = 0
    # Seconds between runs of the retention job (PostgreSQL: also creates partitions ahead).
    retention_job_seconds: float = 3600
    # Rows of an import applied per transaction.
    import_batch_size: int = 5000
    # An import (events or persons) checks its next batch in a helper process while the
    # worker stores the one before (on a machine with 2+ CPUs, for files of more than one batch).
    import_helper_process: bool = True
    # Pages of a persons export made at once (threads of the download; 1: one after another).
    export_threads: int = 2


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
