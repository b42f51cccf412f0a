"""Settings read from the environment (prefix ``AUDIENCE_``)."""

from functools import lru_cache

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
    # Outbox items handled at once per worker process, and claimed per round.
    worker_concurrency: int = 500
    worker_batch_size: int = 200
    # A claimed item whose worker died comes due again after this many seconds.
    outbox_lease_seconds: float = 60
    # How long a stopping worker lets in-flight work finish.
    worker_shutdown_seconds: float = 10
    # Timeout of one outbound HTTP call (webhook deliveries).
    webhook_timeout_seconds: float = 10
    # Events older than this many days are removed in the background; 0 keeps them forever.
    event_retention_days: int = 0
    # Seconds between runs of the retention job (PostgreSQL: also creates partitions ahead).
    retention_job_seconds: float = 3600
    # Rows of an import applied per transaction.
    import_batch_size: int = 1000


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
