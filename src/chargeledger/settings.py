"""All configuration, read once at start-up from the environment (and CLI flags)."""

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

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
    database_pool_size: int = Field(default=10, ge=1, le=200)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
