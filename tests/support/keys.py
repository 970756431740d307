"""The master key of the servers the suite starts: a key file in a temporary directory, made
once per test run and passed to every server (tests/support/servers.py), on SQLite and on
PostgreSQL alike. Tests that sign tokens as the server would read it here."""

import atexit
import shutil
import tempfile
from functools import cache
from pathlib import Path

from chargeledger.api.context import system_clock_ms
from chargeledger.auth.key_file import write_key_file
from chargeledger.auth.keys import KeyRing, KeySource, generate_secret
from chargeledger.domain.signing_keys import TokenKeys, new_key

KEY_VARIABLES = ("CHARGELEDGER_SECRET_KEY", "CHARGELEDGER_SECRET_KEY_FILE")


@cache
def suite_key_file() -> Path:
    directory = Path(tempfile.mkdtemp(prefix="chargeledger-keys-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    path = directory / "keys.json"
    write_key_file(path, [new_key(secret=generate_secret(), now_ms=system_clock_ms())])
    return path


def suite_key_environment(env: dict[str, str]) -> dict[str, str]:
    """The suite's key file, unless the test chose the key itself (an empty value: none)."""
    if any(variable in env for variable in KEY_VARIABLES):
        return {}
    return {"CHARGELEDGER_SECRET_KEY": "", "CHARGELEDGER_SECRET_KEY_FILE": str(suite_key_file())}


def suite_access_keys() -> TokenKeys:
    return KeyRing(KeySource(key_file=suite_key_file())).access_tokens(system_clock_ms())


def suite_cursor_keys() -> TokenKeys:
    return KeyRing(KeySource(key_file=suite_key_file())).continuation_tokens(system_clock_ms())
