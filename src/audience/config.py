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
    # Identity values that name nobody (SDK placeholders); comma-separated, any case.
    blocked_identities: str = "null,undefined,none,anonymous,unknown,0,-1"
    # Personalizing one more device than this evicts the person's least recently seen one.
    max_installations_per_person: int = 50


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
