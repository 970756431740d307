"""All configuration, read once at start-up from the environment (and CLI flags)."""

import ipaddress
import os
from pathlib import Path
from typing import Literal

import limits
from pydantic import AliasChoices, Field, field_validator, model_validator
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
    # The master key (README, "Keys"): this secret, else the key file. Neither on SQLite: a
    # key file next to the database file is made. PostgreSQL refuses to start without one.
    secret_key: str | None = Field(
        default=None,
        description="Master secret that signs access and continuation tokens",
    )
    secret_key_file: Path | None = Field(
        default=None,
        description="Key file (JSON, 0600) holding the master keys; `chargeledger keys rotate`",
    )
    # Comma-separated secrets that signed before secret_key replaced them: they still verify.
    previous_secret_keys: str | None = None

    @field_validator("secret_key", "secret_key_file", "previous_secret_keys", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # VAR= in a shell or a compose file means "not set", not "an empty secret".
        return None if isinstance(value, str) and not value.strip() else value

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
    # An OCPP transaction whose charger has said nothing for this long is closed by us.
    ocpp_transaction_timeout_hours: float = Field(default=24, gt=0)
    # A charger connection silent this long is checked with a call it must answer within the
    # timeout, else closed (ocpp/charge_points/registry.py); 0 turns the checks off.
    ocpp_ping_interval_seconds: float = Field(default=120, ge=0)
    ocpp_ping_timeout_seconds: float = Field(default=30, gt=0)
    # Webhook delivery (webhooks/dispatcher.py). Every serving process runs a dispatcher
    # unless this is off; on SQLite only one of them delivers.
    webhook_dispatcher: bool = True
    # Networks (comma-separated) deliveries may go to although they are loopback, private
    # or link-local, e.g. "10.1.2.0/24" for a receiver inside the operator's network.
    webhook_allowed_networks: str = ""
    # One attempt, from connecting to the end of the answer; the issue asks for 10 s.
    webhook_timeout_seconds: float = Field(default=10, gt=0, le=300)
    # How long a claimed delivery is held: when a process dies mid-delivery, another sends it
    # again after this. Longer than the timeout, with room for recording the outcome.
    webhook_lease_seconds: float = Field(default=60, gt=0, le=3600)
    # How often the dispatcher looks for due deliveries (new ones also wake it at once).
    webhook_poll_seconds: float = Field(default=1, gt=0, le=60)
    # Deliveries one process sends at once.
    webhook_concurrency: int = Field(default=32, ge=1, le=1024)
    # Multiplies every retry delay (domain/retry_schedule.py): 1 in production, where the
    # retries span more than 24 h; the tests shrink it.
    webhook_retry_scale: float = Field(default=1, gt=0, le=1)
    # A subscription whose every attempt has failed for longer than this is disabled.
    webhook_disable_after_hours: float = Field(default=5 * 24, gt=0)
    # Statement runs (statements/runs_worker.py): every serving process runs a worker that
    # carries out POST /v1/statement-runs unless this is off (then other processes must).
    statement_runs_worker: bool = True

    @field_validator("webhook_allowed_networks")
    @classmethod
    def _valid_allowed_networks(cls, value: str) -> str:
        for network in value.split(","):
            if network.strip():
                ipaddress.ip_network(network.strip(), strict=False)
        return value

    @model_validator(mode="after")
    def _lease_outlasts_timeout(self) -> "Settings":
        if self.webhook_lease_seconds <= self.webhook_timeout_seconds:
            raise ValueError(
                "webhook_lease_seconds must be longer than webhook_timeout_seconds: a delivery "
                "still being sent would be claimed again by another process"
            )
        return self

    @property
    def detector_config(self) -> DetectorConfig:
        return DetectorConfig(
            gap_limit_ms=round(self.detector_gap_limit_minutes * 60_000),
            pause_limit_ms=round(self.detector_pause_limit_minutes * 60_000),
            parked_pause_limit_ms=round(self.detector_parked_pause_limit_minutes * 60_000),
            power_threshold_kw=self.detector_power_threshold_kw,
        )

    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # Server limits against slow clients (README, "Server limits"). Headers must be in within
    # the header timeout (Granian); a body gets the grace plus 1 s per min-rate bytes (408
    # after that), and one address may have this many bodies in flight per worker (429 beyond).
    header_read_timeout_seconds: float = Field(default=10, gt=0, le=300)
    body_read_grace_seconds: float = Field(default=10, gt=0, le=300)
    body_min_rate_bytes_per_second: int = Field(default=1024, ge=1)
    max_bodies_in_flight_per_address: int = Field(default=128, ge=1)
    # Requests one worker has in hand at once (Granian's backpressure); more wait in the
    # listen backlog. Slow bodies are cut off above, so slots free up within seconds.
    server_backpressure: int = Field(default=4096, ge=1)
    server_backlog: int = Field(default=2048, ge=1)
    # Honest failure (README, "Operations"): every wait on the database is bounded, and a
    # request that runs out of one answers 503 with Retry-After instead of hanging.
    # PostgreSQL: all 20 pooled connections of a worker busy this long means the database is
    # too slow (a request's statements take milliseconds). Not shorter: 200 chargers
    # reconnecting at once after a restart, on a loaded machine, waited more than 5 s for a
    # connection, and a 503 makes each of them retry. Connecting is bounded too.
    database_pool_timeout_seconds: float = Field(default=15, gt=0, le=300)
    database_connect_timeout_seconds: float = Field(default=5, gt=0, le=300)
    # PostgreSQL cancels a statement running longer (waiting for a row lock included); the
    # client gives up a second later, for a server that cannot answer at all.
    database_statement_timeout_seconds: float = Field(default=30, gt=0, le=3600)
    # SQLite: how long a write waits for the database's only write lock (and a request for a
    # pooled connection, which writers waiting for the lock hold). Not shorter: every write
    # queues behind all others, and the longest the server makes itself (a batch of 10,000
    # readings with its detection) takes seconds, tens of seconds on a loaded machine.
    database_busy_timeout_seconds: float = Field(default=30, gt=0, le=300)
    # GET /readyz: SELECT 1 must answer within this.
    readiness_timeout_seconds: float = Field(default=2, gt=0, le=60)
    # Logs (README, "Operations"): one JSON object per line, or aligned text for a terminal.
    log_format: Literal["json", "console"] = "json"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # POST /v1/authentication (README, "Authentication limits"). Rate limits are written in
    # the `limits` library's notation, several joined by ";" ("10/minute;100/hour"): failed
    # attempts per clientId and per address, every attempt per address, and requests of one
    # address being checked at once (per process).
    auth_failures_per_client: str = "10/minute;100/hour"
    auth_failures_per_address: str = "30/minute;300/hour"
    auth_attempts_per_address: str = "600/minute"
    auth_in_flight_per_address: int = Field(default=8, ge=1)
    # argon2id hashes one process runs at once, requests that may wait for one, and for how
    # long (auth/hashing_gate.py); beyond either, 503 with Retry-After at once. Half the
    # cores by default: one hash already runs its lanes on several threads, and the other
    # half is left to the event loop, the database driver and every other request.
    auth_hash_concurrency: int = Field(
        default_factory=lambda: max(1, (os.cpu_count() or 2) // 2), ge=1, le=256
    )
    auth_hash_queue: int = Field(default=16, ge=0)
    auth_hash_wait_seconds: float = Field(default=2, gt=0, le=60)
    # Where the rate limits count: each process's memory when unset, else Redis
    # (redis://host:6379/0), shared by every worker and machine that names it.
    rate_limit_storage_url: str | None = None
    # Peers whose X-Forwarded-For is believed (addresses or networks, comma-separated): the
    # client's address is then the last one in that header that is not itself a proxy.
    trusted_proxies: str = ""

    @field_validator(
        "auth_failures_per_client", "auth_failures_per_address", "auth_attempts_per_address"
    )
    @classmethod
    def _valid_rate_limits(cls, value: str) -> str:
        limits.parse_many(value)  # ValueError names what it could not read
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _valid_networks(cls, value: str) -> str:
        for network in value.split(","):
            if network.strip():
                ipaddress.ip_network(network.strip(), strict=False)
        return value

    @property
    def trusted_proxy_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(
            ipaddress.ip_network(network.strip(), strict=False)
            for network in self.trusted_proxies.split(",")
            if network.strip()
        )
