"""Collector settings: one place, read from HERKOMST_* environment variables (pydantic-settings)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MiB = 1024 * 1024


class Settings(BaseSettings):
    """Everything the collector can be configured with."""

    model_config = SettingsConfigDict(env_prefix="HERKOMST_", extra="ignore")

    data_dir: Path = Field(default=Path("./data"), description="where the default SQLite database lives")
    database_url: str | None = Field(
        default=None, description="sqlite:///path or postgresql+psycopg://user@host/db; default SQLite in data_dir"
    )
    max_body_bytes: int = Field(default=16 * MiB, ge=1024, description="largest request body on the wire")
    max_decompressed_bytes: int = Field(default=256 * MiB, ge=1024, description="largest report after gunzip")
    page_size_max: int = Field(default=1000, ge=1, le=100_000)
    agent_silent_hours: float = Field(
        default=48, gt=0, le=24 * 366,
        description="an enrolled, unrevoked agent with no report for this long is listed as silent",
    )
    summary_cache_seconds: float = Field(
        default=30, ge=0, le=3600,
        description="how long a summary may be served from memory; a report ingested here clears it; 0: never cache",
    )
    migrate_on_start: bool = True
    report_schedule: str = Field(default="", description="formats to generate monthly, e.g. 'html,pdf'; empty: off")
    report_pseudonym_key: SecretStr | None = Field(default=None, description="key for stable org pseudonyms")
    attribute_on_ingest: bool = Field(default=True, description="identify a report's devices once it is stored")
    reattribute_on_start: bool = Field(
        default=True, description="re-attribute every device in the background when the catalogue or policy changed"
    )

    # concurrency and backpressure (issue 15 items 1-3)
    db_pool_size: int = Field(default=10, ge=1, le=1000, description="database connections kept open per process")
    db_max_overflow: int = Field(default=30, ge=0, le=1000, description="extra connections opened under load")
    db_pool_timeout: float = Field(
        default=10, gt=0, le=300, description="seconds a request waits for a connection before it is answered 503"
    )
    ingest_concurrency: int = Field(
        default=4, ge=1, le=256, description="reports decoded and stored at the same time by one process"
    )
    ingest_queue_seconds: float = Field(
        default=30, gt=0, le=600,
        description="how long a report may wait for its turn (slots, byte budgets, SQLite's writer) before 503",
    )
    ingest_queue_max: int = Field(
        default=2000, ge=1, description="reports waiting for their turn at most; more are answered 503 at once"
    )
    ingest_wire_budget_bytes: int = Field(
        default=64 * MiB, ge=1024, description="request bodies held in memory at once, all reports together"
    )
    ingest_parse_budget_bytes: int = Field(
        default=256 * MiB, ge=1024,
        description="decompressed report bytes being parsed and stored at once (one report larger than this "
        "is admitted alone)",
    )
    retry_after_seconds: int = Field(default=5, ge=1, le=3600, description="the Retry-After of a 503 answer")

    # hostile input and exports (issue 15 items 4-6)
    cursor_key: SecretStr | None = Field(
        default=None,
        description="HMAC key signing pagination cursors; the same for every collector process on one database. "
        "Unset: a random key created once and kept in the database",
    )

    @model_validator(mode="after")
    def _limits(self) -> Settings:
        if self.max_decompressed_bytes < self.max_body_bytes:
            raise ValueError("HERKOMST_MAX_DECOMPRESSED_BYTES must be at least HERKOMST_MAX_BODY_BYTES")
        return self

    @property
    def effective_database_url(self) -> str:
        """The database URL in use: the configured one, or a SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'herkomst.db').resolve()}"


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
