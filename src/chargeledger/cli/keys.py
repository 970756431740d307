"""`chargeledger keys`: the master keys that sign tokens (README, "Keys")."""

import asyncio
from typing import Annotated, Any

import typer

from chargeledger.api.context import system_clock_ms
from chargeledger.auth import key_file
from chargeledger.auth.keys import (
    KEY_FILE_CHECK_INTERVAL_S,
    KeyConfigurationError,
    KeySource,
    key_source,
    prepare_keys,
    rotate_key_file,
)
from chargeledger.auth.service import ACCESS_TOKEN_TTL_S
from chargeledger.cli.common import DatabaseOption, fail, migrate_or_exit, print_json, settings_for
from chargeledger.domain.instants import format_instant
from chargeledger.domain.signing_keys import KeyFileError, MasterKey, signing_key
from chargeledger.settings import Settings
from chargeledger.storage.database import Database

keys_app = typer.Typer(
    help="The master keys that sign access and continuation tokens.", no_args_is_help=True
)

_ROTATE_IN_ENVIRONMENT = (
    "keys come from CHARGELEDGER_SECRET_KEY, not from a key file: rotate by setting "
    "CHARGELEDGER_SECRET_KEY to a new secret and CHARGELEDGER_PREVIOUS_SECRET_KEYS to the "
    "old one (comma-separated, they only verify), restart, and remove the old one from "
    "CHARGELEDGER_PREVIOUS_SECRET_KEYS once its tokens have expired"
)


def key_source_or_exit(settings: Settings) -> KeySource:
    try:
        return key_source(settings)
    except KeyConfigurationError as error:
        raise fail(str(error)) from None


def prepare_keys_or_exit(settings: Settings) -> KeySource:
    """Before serving: a master key is configured (else the reason, and exit 1), the key file
    exists, and the database holds no secret."""

    async def prepare() -> KeySource:
        database = Database(settings.database_url)
        try:
            return await prepare_keys(database, settings, now_ms=system_clock_ms())
        finally:
            await database.dispose()

    try:
        return asyncio.run(prepare())
    except KeyConfigurationError as error:
        raise fail(str(error)) from None
    except (KeyFileError, OSError) as error:
        raise fail(f"the key file cannot be used: {error}") from None


def _listed(keys: tuple[MasterKey, ...], source: KeySource) -> dict[str, Any]:
    """What `keys list` and `keys rotate` print: never a secret."""
    # From the environment the first key signs; in a file, the newest that is not retiring.
    signer = keys[0] if source.key_file is None else signing_key(keys)
    return {
        "source": "environment" if source.key_file is None else "file",
        "keyFile": None if source.key_file is None else str(source.key_file),
        "keys": [
            {
                "id": key.id,
                "createdAt": None if key.created_ms is None else format_instant(key.created_ms),
                "retiresAt": None if key.retires_ms is None else format_instant(key.retires_ms),
                "signs": key is signer,
                "legacy": key.legacy,
            }
            for key in keys
        ],
    }


@keys_app.command("rotate")
def rotate(
    grace_hours: Annotated[
        float,
        typer.Option(
            min=0,
            help="How long tokens signed with the current key keep verifying. At least the "
            "access tokens' hour; 24 h lets clients finish paging too. 0 after a leak: they "
            "stop at once.",
        ),
    ] = 24,
    database_url: DatabaseOption = None,
) -> None:
    """A new key signs from now on; the one that signed verifies for the grace period; keys
    already retired are dropped. Running servers pick the new key up without a restart."""
    settings = settings_for(database_url)
    source = key_source_or_exit(settings)
    if source.key_file is None:
        raise fail(_ROTATE_IN_ENVIRONMENT)
    migrate_or_exit(settings)
    prepare_keys_or_exit(settings)  # the file exists; a secret left in the database is in it
    now_ms = system_clock_ms()
    try:
        keys = rotate_key_file(
            source.key_file, now_ms=now_ms, grace_ms=round(grace_hours * 3_600_000)
        )
    except (KeyFileError, OSError) as error:
        raise fail(f"the key file cannot be used: {error}") from None
    signer = signing_key(keys)
    if 0 < grace_hours * 3600 < ACCESS_TOKEN_TTL_S:
        typer.echo(
            "warning: the grace period is shorter than an access token's life; some clients "
            "will have to authenticate again",
            err=True,
        )
    typer.echo(
        f"key {signer.id} signs now; running servers use it within {KEY_FILE_CHECK_INTERVAL_S:g} s",
        err=True,
    )
    print_json(_listed(keys, source))


@keys_app.command("list")
def list_keys(database_url: DatabaseOption = None) -> None:
    """The master keys: ids, created, retires, which one signs (never a secret)."""
    settings = settings_for(database_url)
    source = key_source_or_exit(settings)
    if source.key_file is None:
        print_json(_listed(source.environment_keys, source))
        return
    try:
        keys, _ = key_file.read_key_file(source.key_file)
    except FileNotFoundError:
        raise fail(
            f"there is no key file at {source.key_file} yet: the server makes it when it "
            "first starts, or run `chargeledger keys rotate`"
        ) from None
    except (KeyFileError, OSError) as error:
        raise fail(f"the key file cannot be used: {error}") from None
    print_json(_listed(keys, source))
