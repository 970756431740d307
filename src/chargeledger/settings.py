"""All configuration, read once at start-up from the environment (and CLI flags)."""

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from chargeledger.domain.session_detection import DetectorConfig

DEFAULT_DATABASE_URL = "sqlite:///chargeledger.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CHARGELEDGER_", extra="ignore")

    database_url: str = Field(
        default=DEFAULT_DATABASE_URL,
        validation_alias=AliasChoices("DATABASE_URL", "CHARGELEDGER_DATABASE_URL"),
        description="sqlite:///path.db (default, in the working directory) or postgresql://...",
    )
    secret_key: str | None = Field(
        default=None,
        description=(
            "Master secret for signing access and continuation tokens; when unset, one is "
            "generated on first start and kept in the database"
        ),
    )
    public_url: str | None = Field(
        default=None,
        description="Base URL clients reach us at (for links.next behind a proxy), e.g. https://api.example.com",
    )
    database_pool_size: int = Field(default=20, ge=1, le=200)
    # argon2id cost of client secrets: the library's recommendation by default. Lower it only
    # where hashing time matters more than resistance to offline guessing (test suites).
    secret_hash_time_cost: int = Field(default=3, ge=1, le=20)
    secret_hash_memory_kib: int = Field(default=65536, ge=8, le=4 * 1024 * 1024)
    # The session detector (README, "Sessions from readings").
    detector_gap_limit_minutes: float = Field(default=60, gt=0, le=7 * 24 * 60)
    detector_pause_limit_minutes: float = Field(default=15, ge=0, le=24 * 60)
    detector_parked_pause_limit_minutes: float = Field(default=60, ge=0, le=24 * 60)
    detector_power_threshold_kw: float = Field(default=0.1, ge=0)
    # How often each server process closes sessions of vehicles that went silent.
    stale_session_sweep_seconds: float = Field(default=60, gt=0)
    # How often objects that lived this long are frozen out of automatic garbage collections,
    # and how often everything is collected once (api/garbage_collection.py).
    gc_freeze_seconds: float = Field(default=60, gt=0)
    gc_full_collection_seconds: float = Field(default=600, gt=0)
    # Mounts the benchmark's comparison routes (bench/); never in production.
    bench_routes: bool = False
    # An OCPP transaction whose charger has said nothing for this long is closed by us.
    ocpp_transaction_timeout_hours: float = Field(default=24, gt=0)
    # A charger connection silent this long is checked with a call it must answer within the
    # timeout, else closed (ingest/ocpp/registry.py); 0 turns the checks off.
    ocpp_ping_interval_seconds: float = Field(default=120, ge=0)
    ocpp_ping_timeout_seconds: float = Field(default=30, gt=0)

    @property
    def detector_config(self) -> DetectorConfig:
        return DetectorConfig(
            gap_limit_ms=round(self.detector_gap_limit_minutes * 60_000),
            pause_limit_ms=round(self.detector_pause_limit_minutes * 60_000),
            parked_pause_limit_ms=round(self.detector_parked_pause_limit_minutes * 60_000),
            power_threshold_kw=self.detector_power_threshold_kw,
        )

    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
