"""Migrations build exactly the schema the code declares, on SQLite and PostgreSQL, and
can be undone and redone."""

import asyncio
from pathlib import Path
from uuid import uuid4

import orjson
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from chargeledger.storage.database import Database
from chargeledger.storage.migrate import alembic_config, upgrade_to_head_async
from chargeledger.storage.tables import metadata
from tests.support.databases import fresh_database


async def _schema_differences(database: Database) -> list[object]:
    async with database.engine.connect() as connection:

        def compare(sync_connection: sa.Connection) -> list[object]:
            context = MigrationContext.configure(sync_connection)
            return list(compare_metadata(context, metadata))

        return await connection.run_sync(compare)


async def test_head_matches_the_declared_tables(database: Database) -> None:
    assert await _schema_differences(database) == []


async def test_downgrade_to_base_and_upgrade_again(tmp_path: Path) -> None:
    async with fresh_database(tmp_path, name_hint="migrations") as url:
        await upgrade_to_head_async(url)
        await asyncio.to_thread(command.downgrade, alembic_config(url), "base")
        database = Database(url)
        try:
            async with database.read() as connection:
                tables = await connection.run_sync(lambda sync: sa.inspect(sync).get_table_names())
            assert set(tables) <= {"alembic_version"}
            await upgrade_to_head_async(url)
            assert await _schema_differences(database) == []
        finally:
            await database.dispose()


async def test_upgrading_twice_is_harmless(database_url: str, database: Database) -> None:
    await upgrade_to_head_async(database_url)
    assert await _schema_differences(database) == []


async def test_sqlite_runs_in_wal_mode_with_full_sync(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'wal.db'}")
    try:
        async with database.read() as connection:
            mode = await connection.scalar(sa.text("PRAGMA journal_mode"))
            synchronous = await connection.scalar(sa.text("PRAGMA synchronous"))
        assert mode == "wal"
        assert synchronous == 2  # FULL
    finally:
        await database.dispose()


async def test_sqlite_writers_wait_for_each_other_instead_of_failing(tmp_path: Path) -> None:
    """Two transactions that read then write at once both commit: BEGIN IMMEDIATE queues the
    second behind the first instead of failing it with 'database is locked'."""
    url = f"sqlite:///{tmp_path / 'writers.db'}"
    await upgrade_to_head_async(url)
    database = Database(url)
    try:

        async def read_then_write(name: str) -> None:
            async with database.write() as connection:
                await connection.execute(sa.text("SELECT count(*) FROM tenants"))
                await asyncio.sleep(0.2)
                await connection.execute(
                    sa.text("INSERT INTO tenants (id, name, created_ms) VALUES (:id, :n, 0)"),
                    {"id": name.ljust(32, "0"), "n": name},
                )

        await asyncio.gather(*(read_then_write(f"{i:x}") for i in range(5)))
        async with database.read() as connection:
            assert await connection.scalar(sa.text("SELECT count(*) FROM tenants")) == 5
    finally:
        await database.dispose()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@h:5432/db", "postgresql+asyncpg://u:p@h:5432/db"),
        ("postgresql://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("sqlite:///chargeledger.db", "sqlite+aiosqlite:///chargeledger.db"),
    ],
)
def test_database_urls_map_to_the_async_drivers(given: str, expected: str) -> None:
    from chargeledger.storage.database import async_database_url

    assert async_database_url(given) == expected


def test_unsupported_database_is_refused_with_a_reason() -> None:
    from chargeledger.storage.database import DatabaseUrlError, async_database_url

    with pytest.raises(DatabaseUrlError, match="unsupported database 'mysql'"):
        async_database_url("mysql://u@h/db")


async def test_migration_0004_builds_the_record_of_sessions_stored_before_it(
    tmp_path: Path,
) -> None:
    """A database with sessions from before stored records existed serves them unchanged:
    the migration builds each one's record from its columns."""
    from chargeledger.domain.record_json import charge_record_json
    from chargeledger.storage.tables import charge_sessions, entities, tenants

    async with fresh_database(tmp_path, name_hint="backfill") as url:
        await asyncio.to_thread(command.upgrade, alembic_config(url), "0003")
        database = Database(url)
        try:
            tenant_id, entity_id, session_id = uuid4(), uuid4(), uuid4()
            old_columns = {c.name for c in charge_sessions.columns} - {
                "record_json",
                "energy_uncertainty_kwh",  # added by 0005
                "id_tag",  # added by 0006
                "meter_evidence",  # added by 0006
                "version",  # added by 0008
            }
            values = {
                "entity_id": entity_id, "id": session_id, "external_id": "old",
                "start_ms": 1_716_814_800_000, "end_ms": 1_716_822_000_000,
                "created_ms": 1_716_900_000_000, "updated_ms": 1_716_900_000_000,
                "energy_kwh": 10.0, "t1_kwh": 6.0, "t2_kwh": 4.0, "t3_kwh": 0.0, "t4_kwh": 0.0,
                "average_power_kw": 5.0, "soc_start_pct": 20.0, "soc_end_pct": 80.0,
                "range_start_km": None, "range_end_km": None, "latitude": 50.8,
                "longitude": 4.7, "position_uncertainty_m": None, "address": "Street 1",
                "location_matches_json": "[]", "matched_address": None, "source": "external",
                "method": "external", "energy_method": None, "tiers_given": True,
            }  # fmt: skip
            assert set(values) == old_columns
            async with database.write() as connection:
                await connection.execute(
                    sa.insert(tenants).values(id=tenant_id, name="old", created_ms=0)
                )
                await connection.execute(
                    sa.insert(entities).values(
                        id=entity_id,
                        tenant_id=tenant_id,
                        type="EV",
                        name="car",
                        properties_json="{}",
                        capture_charge_sessions=True,
                        created_ms=0,
                    )
                )
                await connection.execute(
                    sa.text(
                        f"INSERT INTO charge_sessions ({', '.join(values)}) "
                        f"VALUES ({', '.join(':' + name for name in values)})"
                    ).bindparams(
                        sa.bindparam("entity_id", type_=sa.Uuid),
                        sa.bindparam("id", type_=sa.Uuid),
                    ),
                    values,
                )
            await upgrade_to_head_async(url)
            async with database.read() as connection:
                stored = await connection.scalar(sa.select(charge_sessions.c.record_json))
            assert stored == charge_record_json({**values, "energy_uncertainty_kwh": None})
        finally:
            await database.dispose()


async def test_migration_0005_adds_speed_and_energy_uncertainty_to_every_record(
    tmp_path: Path,
) -> None:
    """Upgrading from 0004: readings gain speed_kmh, sessions energy_uncertainty_kwh, and
    every stored record gains data.energyUncertainty (null), right after energyMethod; the
    rest of the record is unchanged. Downgrading takes all three away again."""
    from chargeledger.domain.record_json import charge_record_json

    async with fresh_database(tmp_path, name_hint="m0005") as url:
        await asyncio.to_thread(command.upgrade, alembic_config(url), "0004")
        database = Database(url)
        try:
            tenant_id, entity_id = uuid4(), uuid4()
            session_ids = [uuid4() for _ in range(3)]
            base = {
                "entity_id": entity_id, "external_id": None, "end_ms": 1_716_822_000_000,
                "created_ms": 1_716_900_000_000, "updated_ms": 1_716_900_000_000,
                "energy_kwh": 10.0, "t1_kwh": 6.0, "t2_kwh": 4.0, "t3_kwh": 0.0, "t4_kwh": 0.0,
                "average_power_kw": 5.0, "soc_start_pct": 20.0, "soc_end_pct": 80.0,
                "range_start_km": None, "range_end_km": None, "latitude": 50.8,
                "longitude": 4.7, "position_uncertainty_m": None, "address": None,
                "location_matches_json": "[]", "matched_address": None, "source": "readings",
                "method": "isCharging", "energy_method": "counter", "tiers_given": False,
            }  # fmt: skip
            sessions = [
                {**base, "id": session_id, "start_ms": 1_716_814_800_000 + index * 1000}
                for index, session_id in enumerate(session_ids)
            ]
            # As 0004's code stored them: the record without energyUncertainty.
            records_before = {}
            for session in sessions:
                record = orjson.loads(charge_record_json(session))
                for later in ("energyUncertainty", "idTag", "meterEvidence"):
                    del record["data"][later]
                records_before[session["id"]] = orjson.dumps(record).decode()
            async with database.write() as connection:
                await connection.execute(
                    sa.text(
                        "INSERT INTO tenants (id, name, created_ms) VALUES (:id, 'old', 0)"
                    ).bindparams(sa.bindparam("id", type_=sa.Uuid)),
                    {"id": tenant_id},
                )
                await connection.execute(
                    sa.text(
                        "INSERT INTO entities (id, tenant_id, type, name, properties_json, "
                        "capture_charge_sessions, created_ms) "
                        "VALUES (:id, :tenant_id, 'EV', 'car', '{}', true, 0)"
                    ).bindparams(
                        sa.bindparam("id", type_=sa.Uuid), sa.bindparam("tenant_id", type_=sa.Uuid)
                    ),
                    {"id": entity_id, "tenant_id": tenant_id},
                )
                columns = [*sessions[0], "record_json"]
                await connection.execute(
                    sa.text(
                        f"INSERT INTO charge_sessions ({', '.join(columns)}) "
                        f"VALUES ({', '.join(':' + name for name in columns)})"
                    ).bindparams(
                        sa.bindparam("entity_id", type_=sa.Uuid),
                        sa.bindparam("id", type_=sa.Uuid),
                    ),
                    [{**s, "record_json": records_before[s["id"]]} for s in sessions],
                )

            await upgrade_to_head_async(url)
            assert await _schema_differences(database) == []
            async with database.read() as connection:
                rows = (
                    await connection.execute(
                        sa.text("SELECT record_json, energy_uncertainty_kwh FROM charge_sessions")
                    )
                ).all()
                speeds = await connection.scalar(sa.text("SELECT count(speed_kmh) FROM readings"))
            assert speeds == 0
            assert len(rows) == 3
            for record_json, uncertainty in rows:
                assert uncertainty is None
                record = orjson.loads(record_json)
                data_keys = list(record["data"])
                # 0006 adds idTag and meterEvidence after it (tested below).
                assert data_keys[-4:] == [
                    "energyMethod",
                    "energyUncertainty",
                    "idTag",
                    "meterEvidence",
                ]
                assert record["data"]["energyUncertainty"] == {"unit": "kWh", "value": None}
                for later in ("energyUncertainty", "idTag", "meterEvidence"):
                    del record["data"][later]
                assert orjson.dumps(record).decode() in records_before.values()

            await asyncio.to_thread(command.downgrade, alembic_config(url), "0004")
            async with database.read() as connection:

                def columns_of(sync: sa.Connection, table: str) -> set[str]:
                    return {column["name"] for column in sa.inspect(sync).get_columns(table)}

                session_columns = await connection.run_sync(columns_of, "charge_sessions")
                reading_columns = await connection.run_sync(columns_of, "readings")
                stored = (
                    await connection.execute(
                        sa.text("SELECT id, record_json FROM charge_sessions").columns(
                            sa.column("id", sa.Uuid), sa.column("record_json", sa.Text)
                        )
                    )
                ).all()
            assert "energy_uncertainty_kwh" not in session_columns
            assert "speed_kmh" not in reading_columns
            assert {row.id: row.record_json for row in stored} == records_before

            await upgrade_to_head_async(url)
            assert await _schema_differences(database) == []
        finally:
            await database.dispose()


async def test_migration_0006_keys_events_by_content_and_gives_sessions_their_id_tag(
    tmp_path: Path,
) -> None:
    """Upgrading from 0005: TransactionEvents recorded by seqNo keep their rows (keyed by a
    digest of that seqNo); an OCPP session gains its transaction's idTag, in its column and
    in its record (data.idTag; data.meterEvidence null). Downgrading gives back the rows by
    seqNo and the records without the two fields."""
    async with fresh_database(tmp_path, name_hint="m0006") as url:
        await asyncio.to_thread(command.upgrade, alembic_config(url), "0005")
        database = Database(url)
        try:
            tenant_id, entity_id = uuid4(), uuid4()
            session_id, transaction_id = uuid4(), uuid4()
            record_0005 = orjson.dumps(
                {"data": {"method": "ocpp", "energyUncertainty": None}, "id": str(session_id)}
            ).decode()
            uuid_params = ("entity_id", "id", "tenant_id", "session_id", "transaction_id")

            async def insert(connection: object, table: str, row: dict[str, object]) -> None:
                statement = sa.text(
                    f"INSERT INTO {table} ({', '.join(row)}) "
                    f"VALUES ({', '.join(':' + name for name in row)})"
                ).bindparams(
                    *(sa.bindparam(name, type_=sa.Uuid) for name in row if name in uuid_params)
                )
                await connection.execute(statement, row)  # type: ignore[attr-defined]

            async with database.write() as connection:
                await insert(connection, "tenants", {"id": tenant_id, "name": "t", "created_ms": 0})
                await insert(
                    connection,
                    "entities",
                    {
                        "id": entity_id, "tenant_id": tenant_id, "type": "ChargePoint",
                        "name": "cp", "identifier": "CP-1", "properties_json": "{}",
                        "capture_charge_sessions": True, "created_ms": 0,
                    },
                )  # fmt: skip
                await insert(
                    connection,
                    "charge_sessions",
                    {
                        "entity_id": entity_id, "id": session_id, "external_id": "ocpp:x",
                        "start_ms": 1_000, "end_ms": 3_601_000, "created_ms": 5, "updated_ms": 5,
                        "energy_kwh": 11.0, "t1_kwh": 11.0, "t2_kwh": 0.0, "t3_kwh": 0.0,
                        "t4_kwh": 0.0, "average_power_kw": 11.0, "location_matches_json": "[]",
                        "source": "ocpp", "method": "ocpp", "energy_method": "counter",
                        "tiers_given": False, "record_json": record_0005,
                    },
                )  # fmt: skip
                await insert(
                    connection,
                    "ocpp_transactions",
                    {
                        "id": transaction_id, "entity_id": entity_id, "transaction_key": "tx-1",
                        "id_tag": "RFID-7", "start_ms": 1_000, "stop_ms": 3_601_000,
                        "status": "stopped", "last_message_ms": 9, "needs_session": False,
                        "session_id": session_id, "created_ms": 1,
                    },
                )  # fmt: skip
                for seq_no, event_type in ((0, "Started"), (1, "Ended")):
                    await insert(
                        connection,
                        "ocpp_transaction_events",
                        {
                            "transaction_id": transaction_id, "seq_no": seq_no,
                            "event_type": event_type, "timestamp_ms": 1_000, "received_ms": 9,
                        },
                    )  # fmt: skip

            await upgrade_to_head_async(url)
            assert await _schema_differences(database) == []
            async with database.read() as connection:
                events = (
                    await connection.execute(
                        sa.text(
                            "SELECT digest, seq_no FROM ocpp_transaction_events ORDER BY seq_no"
                        )
                    )
                ).all()
                session = (
                    await connection.execute(
                        sa.text("SELECT id_tag, meter_evidence, record_json FROM charge_sessions")
                    )
                ).one()
            assert [tuple(row) for row in events] == [("seqNo:0", 0), ("seqNo:1", 1)]
            assert (session.id_tag, session.meter_evidence) == ("RFID-7", None)
            data = orjson.loads(session.record_json)["data"]
            assert (data["idTag"], data["meterEvidence"]) == ("RFID-7", None)

            await asyncio.to_thread(command.downgrade, alembic_config(url), "0005")
            async with database.read() as connection:
                events = (
                    await connection.execute(
                        sa.text(
                            "SELECT seq_no, event_type FROM ocpp_transaction_events ORDER BY seq_no"
                        )
                    )
                ).all()
                record = await connection.scalar(sa.text("SELECT record_json FROM charge_sessions"))
            assert [tuple(row) for row in events] == [(0, "Started"), (1, "Ended")]
            assert "idTag" not in orjson.loads(record)["data"]
            await upgrade_to_head_async(url)
            assert await _schema_differences(database) == []
        finally:
            await database.dispose()


async def test_migration_0007_keeps_a_station_registered_before_it_at_its_old_url(
    tmp_path: Path,
) -> None:
    """A station registered at revision 0006, when identities were global and its charger
    was configured with /ocpp/<identity>: after the upgrade that charger connects at the same
    URL with the same password, and at its tenant's path too; the station belongs to its
    entity's tenant, on the legacy path. Downgrading keeps it (and drops a newer station of
    another tenant that shares its identity, which 0006 cannot hold)."""
    from chargeledger.ocpp.credentials import hash_password
    from chargeledger.storage.tables import ocpp_stations
    from tests.ocpp.charge_points.charger import PASSWORD, connect_raw, raw_call
    from tests.support.servers import ServerProcess

    async with fresh_database(tmp_path, name_hint="m0007") as url:
        await asyncio.to_thread(command.upgrade, alembic_config(url), "0006")
        database = Database(url)
        try:
            tenant_id, entity_id = uuid4(), uuid4()
            identity = f"OLD-{uuid4().hex[:8]}"
            uuids = ("id", "tenant_id", "entity_id")

            async def insert(connection: object, table: str, row: dict[str, object]) -> None:
                statement = sa.text(
                    f"INSERT INTO {table} ({', '.join(row)}) "
                    f"VALUES ({', '.join(':' + name for name in row)})"
                ).bindparams(*(sa.bindparam(name, type_=sa.Uuid) for name in row if name in uuids))
                await connection.execute(statement, row)  # type: ignore[attr-defined]

            async with database.write() as connection:
                await insert(connection, "tenants", {"id": tenant_id, "name": "t", "created_ms": 0})
                await insert(
                    connection,
                    "entities",
                    {
                        "id": entity_id, "tenant_id": tenant_id, "type": "ChargePoint",
                        "name": "cp", "identifier": identity, "properties_json": "{}",
                        "capture_charge_sessions": True, "created_ms": 0,
                    },
                )  # fmt: skip
                await insert(
                    connection,
                    "ocpp_stations",
                    {
                        "identity": identity,
                        "entity_id": entity_id,
                        "password_hash": await hash_password(PASSWORD),
                        "created_ms": 1,
                    },
                )

            await upgrade_to_head_async(url)
            assert await _schema_differences(database) == []
            async with database.read() as connection:
                station = (await connection.execute(sa.select(ocpp_stations))).one()
            assert (station.tenant_id, station.identity, station.legacy_identity) == (
                tenant_id,
                identity,
                identity,
            )

            server = ServerProcess(url, log_path=tmp_path / "server.log")
            await asyncio.to_thread(server.start)
            try:
                for path in (f"/ocpp/{identity}", f"/ocpp/{tenant_id}/{identity}"):
                    async with connect_raw(server.base_url, path, PASSWORD) as charger:
                        answer = await raw_call(charger, "hb", "Heartbeat", {})
                        assert answer[:2] == [3, "hb"], (path, answer)
            finally:
                await asyncio.to_thread(server.stop)

            # Another tenant registers the identity after the upgrade; 0006 keys stations by
            # identity alone, so going back keeps the station on the legacy path.
            other_tenant, other_entity = uuid4(), uuid4()
            async with database.write() as connection:
                await insert(
                    connection, "tenants", {"id": other_tenant, "name": "u", "created_ms": 0}
                )
                await insert(
                    connection,
                    "entities",
                    {
                        "id": other_entity, "tenant_id": other_tenant, "type": "ChargePoint",
                        "name": "cp", "identifier": identity, "properties_json": "{}",
                        "capture_charge_sessions": True, "created_ms": 0,
                    },
                )  # fmt: skip
                await connection.execute(
                    sa.insert(ocpp_stations).values(
                        tenant_id=other_tenant,
                        identity=identity,
                        entity_id=other_entity,
                        password_hash="x",
                        created_ms=0,  # earlier, yet not the one on the legacy path
                    )
                )
            await asyncio.to_thread(command.downgrade, alembic_config(url), "0006")
            async with database.read() as connection:
                kept = (
                    await connection.execute(
                        sa.text("SELECT identity, entity_id FROM ocpp_stations").columns(
                            sa.column("identity", sa.String), sa.column("entity_id", sa.Uuid)
                        )
                    )
                ).all()
            assert [tuple(row) for row in kept] == [(identity, entity_id)]
            await upgrade_to_head_async(url)
            assert await _schema_differences(database) == []
        finally:
            await database.dispose()


async def test_migration_0008_starts_each_stored_sessions_history_with_its_record(
    tmp_path: Path,
) -> None:
    """Upgrading from 0007: every session stored before gets version 1, and its history a
    first version: change created, reason migrated, its source, its record as stored and the
    instant it was last updated. The session itself is unchanged. Downgrading keeps the
    sessions and drops the history."""
    async with fresh_database(tmp_path, name_hint="m0008") as url:
        await asyncio.to_thread(command.upgrade, alembic_config(url), "0007")
        database = Database(url)
        try:
            tenant_id, entity_id = uuid4(), uuid4()
            uuids = ("id", "tenant_id", "entity_id")

            async def insert(connection: object, table: str, row: dict[str, object]) -> None:
                statement = sa.text(
                    f"INSERT INTO {table} ({', '.join(row)}) "
                    f"VALUES ({', '.join(':' + name for name in row)})"
                ).bindparams(*(sa.bindparam(name, type_=sa.Uuid) for name in row if name in uuids))
                await connection.execute(statement, row)  # type: ignore[attr-defined]

            sessions: list[dict[str, object]] = [
                {
                    "entity_id": entity_id, "id": uuid4(), "external_id": f"old-{index}",
                    "start_ms": 1_716_814_800_000 + index * 86_400_000,
                    "end_ms": 1_716_822_000_000 + index * 86_400_000,
                    "created_ms": 1_716_900_000_000, "updated_ms": 1_716_950_000_000 + index,
                    "energy_kwh": 10.0, "t1_kwh": 10.0, "t2_kwh": 0.0, "t3_kwh": 0.0,
                    "t4_kwh": 0.0, "average_power_kw": 5.0, "location_matches_json": "[]",
                    "source": source, "method": source, "energy_method": None,
                    "tiers_given": True, "record_json": f'{{"id":"{index}","data":{{}}}}',
                }
                for index, source in enumerate(("external", "readings"))
            ]  # fmt: skip
            async with database.write() as connection:
                await insert(connection, "tenants", {"id": tenant_id, "name": "t", "created_ms": 0})
                await insert(
                    connection,
                    "entities",
                    {
                        "id": entity_id, "tenant_id": tenant_id, "type": "EV", "name": "car",
                        "properties_json": "{}", "capture_charge_sessions": True,
                        "created_ms": 0,
                    },
                )  # fmt: skip
                for session in sessions:
                    await insert(connection, "charge_sessions", session)

            await upgrade_to_head_async(url)
            assert await _schema_differences(database) == []
            from chargeledger.storage.tables import charge_session_versions, charge_sessions

            async with database.read() as connection:
                stored = (
                    await connection.execute(
                        sa.select(
                            charge_sessions.c.id,
                            charge_sessions.c.version,
                            charge_sessions.c.record_json,
                            charge_sessions.c.updated_ms,
                        )
                    )
                ).all()
                versions = (await connection.execute(sa.select(charge_session_versions))).all()
            assert {tuple(row) for row in stored} == {
                (s["id"], 1, s["record_json"], s["updated_ms"]) for s in sessions
            }
            assert {tuple(row._mapping.items()) for row in versions} == {
                tuple(
                    {
                        "entity_id": entity_id,
                        "session_id": s["id"],
                        "version": 1,
                        "recorded_ms": s["updated_ms"],
                        "change": "created",
                        "reason": "migrated",
                        "source": s["source"],
                        "record_json": s["record_json"],
                        "replaced_by_json": None,
                    }.items()
                )
                for s in sessions
            }

            await asyncio.to_thread(command.downgrade, alembic_config(url), "0007")
            async with database.read() as connection:
                tables = await connection.run_sync(lambda sync: sa.inspect(sync).get_table_names())
                kept = (
                    await connection.execute(
                        sa.text("SELECT id, record_json FROM charge_sessions").columns(
                            sa.column("id", sa.Uuid), sa.column("record_json", sa.Text)
                        )
                    )
                ).all()
            assert "charge_session_versions" not in tables
            assert {tuple(row) for row in kept} == {(s["id"], s["record_json"]) for s in sessions}
            await upgrade_to_head_async(url)
            assert await _schema_differences(database) == []
        finally:
            await database.dispose()
