"""A demo fleet: two company cars and a home wallbox, with their charging habits simulated
day by day from a fixed date, so that running the demo again yields the same sessions.

Habits (Belgium, Europe/Brussels):
- the Tesla commutes Leuven-Brussels on weekdays, charges at home on a 22:00 timer when its
  battery is under half, and at the office on Tuesdays and Thursdays when under 70 %;
- the ID.4 drives Ghent-Brussels three days a week, charges at the office on arrival, at home
  on weekend afternoons, and on a motorway fast charger every other Saturday;
- the wallbox at the Leuven home sees the Tesla's home sessions (plus charging losses) and a
  visitor's car now and then.
"""

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection

from chargeledger.auth import repository as tenants_repository
from chargeledger.auth import service as auth
from chargeledger.demo.reimbursement import DemoReimbursement, seed_reimbursement
from chargeledger.domain.session_detection import DetectorConfig
from chargeledger.domain.tariffs import BELGIAN_DAY_NIGHT
from chargeledger.entities import repository as entities_repository
from chargeledger.entities import service as entities
from chargeledger.entities.service import EntityType
from chargeledger.locations import repository as locations_repository
from chargeledger.locations import service as locations
from chargeledger.ocpp import credentials as ocpp_credentials
from chargeledger.readings import service as readings
from chargeledger.readings.schemas import parse_reading
from chargeledger.storage.database import Database
from chargeledger.tariffs import service as tariffs

DEMO_TENANT_NAME = "Demo fleet"
BRUSSELS = ZoneInfo("Europe/Brussels")
# The simulation always starts here, so every run reproduces the same history.
SIMULATION_START = date(2024, 1, 1)
_METRES_PER_DEGREE_LATITUDE = 111_320.0


@dataclass(frozen=True)
class Place:
    label: str
    address: str
    latitude: float
    longitude: float
    radius_m: float


LEUVEN_HOME = Place("Home", "Naamsestraat 40, 3000 Leuven", 50.87405, 4.70043, 60)
GHENT_HOME = Place("Home", "Korenmarkt 1, 9000 Gent", 51.05445, 3.72174, 60)
OFFICE = Place("Office", "Wetstraat 16, 1000 Brussel", 50.84655, 4.36942, 150)
# A motorway fast charger: no entity has it as a location, so its sessions match nothing.
FAST_CHARGER = Place("Fast charger", "E40, 9880 Aalter", 51.08694, 3.44638, 50)


@dataclass(frozen=True)
class DemoEntity:
    key: str
    name: str
    type: EntityType
    brand: str
    identifier: str
    places: tuple[Place, ...]
    id: UUID | None = None


@dataclass(frozen=True)
class ChargingEvent:
    """One simulated plug-in: when, where, at what power, from and to what state of charge."""

    start: datetime
    end: datetime
    energy_kwh: float
    soc_start_pct: float | None
    soc_end_pct: float | None
    range_start_km: float | None
    range_end_km: float | None
    place: Place
    external_id: str  # names the event; detected sessions get ids of their own


@dataclass
class DemoFleet:
    tenant_id: UUID
    tenant_name: str
    client_id: UUID
    client_secret: str
    entities: dict[str, DemoEntity] = field(default_factory=dict)
    session_count: int = 0
    last_30_days_start: str = ""
    simulated_charger: DemoEntity | None = None
    reimbursement: DemoReimbursement | None = None


DEMO_ENTITIES = (
    DemoEntity("ev1", "Tesla Model 3 (Leuven)", EntityType.EV, "Tesla", "5YJ3E7EB0NF000001",
               (LEUVEN_HOME, OFFICE)),
    DemoEntity("ev2", "Volkswagen ID.4 (Gent)", EntityType.EV, "Volkswagen", "WVGZZZE2ZPP000002",
               (GHENT_HOME, OFFICE)),
    DemoEntity("cp1", "Wallbox Leuven", EntityType.CHARGE_POINT, "Alfen", "ALFEN-DEMO-0001",
               (LEUVEN_HOME,)),
)  # fmt: skip

# A charge point that speaks OCPP: `chargeledger demo` starts a simulated one against it.
SIMULATED_CHARGER = DemoEntity(
    "ocpp", "Office charger (simulated, OCPP)", EntityType.CHARGE_POINT, "chargeledger",
    "DEMO-OCPP-01", (OFFICE,),
)  # fmt: skip
SIMULATED_CHARGER_PASSWORD = "demo-ocpp-password-0001"  # noqa: S105 - a demo, printed anyway


@dataclass
class _Car:
    key: str
    battery_kwh: float
    km_per_pct: float
    ac_power_kw: float
    soc_pct: float = 70.0


def _at(day: date, hour: int, minute: int) -> datetime:
    """Local wall-clock time on that day, as UTC; minutes past 59 roll into the next hour."""
    local = datetime.combine(day, time(hour), tzinfo=BRUSSELS) + timedelta(minutes=minute)
    return local.astimezone(UTC)


def _charge(
    car: _Car,
    *,
    start: datetime,
    target_pct: float,
    power_kw: float,
    place: Place,
    kind: str,
) -> ChargingEvent:
    energy_kwh = round((target_pct - car.soc_pct) / 100 * car.battery_kwh, 3)
    # Charging slows above 80 %: stretch the time by a few percent, as real curves do.
    hours = energy_kwh / power_kw * (1.06 if target_pct > 80 else 1.0)
    end = start + timedelta(seconds=round(hours * 3600))
    event = ChargingEvent(
        start=start,
        end=end,
        energy_kwh=energy_kwh,
        soc_start_pct=round(car.soc_pct, 1),
        soc_end_pct=round(target_pct, 1),
        range_start_km=round(car.soc_pct * car.km_per_pct),
        range_end_km=round(target_pct * car.km_per_pct),
        place=place,
        external_id=f"demo-{car.key}-{start.strftime('%Y%m%dT%H%M')}-{kind}",
    )
    car.soc_pct = target_pct
    return event


def _tesla_day(car: _Car, day: date, rng: random.Random) -> list[ChargingEvent]:
    events: list[ChargingEvent] = []
    weekday = day.weekday() < 5
    if weekday:
        car.soc_pct -= 62 / car.km_per_pct * rng.uniform(0.9, 1.15)  # 2 x 31 km to the office
        if day.weekday() in (1, 3) and car.soc_pct < 70:
            start = _at(day, 9, rng.randint(0, 40))
            events.append(
                _charge(car, start=start, target_pct=80, power_kw=11, place=OFFICE, kind="office")
            )
    else:
        car.soc_pct -= rng.uniform(0, 90) / car.km_per_pct
    car.soc_pct = max(car.soc_pct, 8.0)
    if car.soc_pct < 50:
        start = _at(day, 22, 0) + timedelta(seconds=rng.randint(0, 90))  # the car's timer
        events.append(
            _charge(car, start=start, target_pct=90, power_kw=11, place=LEUVEN_HOME, kind="home")
        )
    return events


def _id4_day(car: _Car, day: date, rng: random.Random, fortnight_even: bool) -> list[ChargingEvent]:
    events: list[ChargingEvent] = []
    weekday = day.weekday()
    if weekday in (0, 2, 3):
        car.soc_pct -= 58 / car.km_per_pct * rng.uniform(0.9, 1.2)
        if car.soc_pct < 75:
            start = _at(day, 8, 50 + rng.randint(0, 30))
            events.append(
                _charge(car, start=start, target_pct=80, power_kw=11, place=OFFICE, kind="office")
            )
        car.soc_pct -= 58 / car.km_per_pct * rng.uniform(0.9, 1.2)
    elif weekday == 5 and fortnight_even:
        car.soc_pct = max(car.soc_pct - rng.uniform(35, 50), 12.0)
        start = _at(day, 10, rng.randint(0, 59))
        events.append(
            _charge(car, start=start, target_pct=80, power_kw=rng.uniform(70, 110),
                    place=FAST_CHARGER, kind="fast")
        )  # fmt: skip
        car.soc_pct -= rng.uniform(20, 30)
    elif weekday == 6 and car.soc_pct < 65:
        start = _at(day, 14, rng.randint(0, 59))
        events.append(
            _charge(car, start=start, target_pct=100, power_kw=7.4, place=GHENT_HOME, kind="home")
        )
    car.soc_pct = max(car.soc_pct, 8.0)
    return events


def simulate(until: date) -> dict[str, list[ChargingEvent]]:
    """Every demo entity's charging events from SIMULATION_START up to (not including) until."""
    rng = random.Random(20240101)  # noqa: S311 - demo data, not security
    tesla = _Car("ev1", battery_kwh=75.0, km_per_pct=4.9, ac_power_kw=11)
    id4 = _Car("ev2", battery_kwh=77.0, km_per_pct=4.4, ac_power_kw=11)
    events: dict[str, list[ChargingEvent]] = {"ev1": [], "ev2": [], "cp1": []}
    day = SIMULATION_START
    while day < until:
        tesla_events = _tesla_day(tesla, day, rng)
        events["ev1"].extend(tesla_events)
        events["ev2"].extend(_id4_day(id4, day, rng, (day.toordinal() // 7) % 2 == 0))
        for event in tesla_events:
            if event.place is LEUVEN_HOME:
                # The wallbox meters what left the grid: the car's energy plus ~8 % losses.
                events["cp1"].append(
                    ChargingEvent(
                        start=event.start - timedelta(seconds=20),
                        end=event.end + timedelta(seconds=35),
                        energy_kwh=round(event.energy_kwh * 1.08, 3),
                        soc_start_pct=None,
                        soc_end_pct=None,
                        range_start_km=None,
                        range_end_km=None,
                        place=LEUVEN_HOME,
                        external_id=event.external_id.replace("ev1", "cp1"),
                    )
                )
        if rng.random() < 0.06:  # a visitor plugs in for the afternoon
            start = _at(day, 13, rng.randint(0, 59))
            energy = round(rng.uniform(6, 18), 3)
            events["cp1"].append(
                ChargingEvent(
                    start=start,
                    end=start + timedelta(hours=energy / 7.2),
                    energy_kwh=energy,
                    soc_start_pct=None,
                    soc_end_pct=None,
                    range_start_km=None,
                    range_end_km=None,
                    place=LEUVEN_HOME,
                    external_id=f"demo-cp1-{start.strftime('%Y%m%dT%H%M')}-visitor",
                )
            )
        day += timedelta(days=1)
    # In time order: the wallbox's visitors (afternoon) were appended after the Tesla's
    # evening charge of the same day, and its meter counts in the order events are posted.
    for entity_events in events.values():
        entity_events.sort(key=lambda event: event.start)
    return events


READING_INTERVAL = timedelta(minutes=5)


def _z(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%SZ")


def _position(place: Place, rng: random.Random) -> dict[str, float]:
    # Reported positions scatter by a few metres around where the car really stood.
    north_m, east_m = rng.gauss(0, 2), rng.gauss(0, 2)
    return {
        "latitude": round(place.latitude + north_m / _METRES_PER_DEGREE_LATITUDE, 6),
        "longitude": round(
            place.longitude + east_m / (_METRES_PER_DEGREE_LATITUDE * 0.63),
            6,  # cos(51 deg)
        ),
        "accuracy": 10.0,
    }


def event_readings(
    key: str, event: ChargingEvent, counter_kwh: float, rng: random.Random
) -> list[dict[str, object]]:
    """What the device would have reported around and during the event, as posted to
    POST /v1/entities/{id}/readings: the Tesla reports isCharging, power, state of charge and
    range; the ID.4 only state of charge and plug state; the wallbox power and its meter."""
    instants = [event.start - timedelta(minutes=5)]
    cursor = event.start
    while cursor < event.end:
        instants.append(cursor)
        cursor += READING_INTERVAL
    instants.append(event.end)
    hours = (event.end - event.start).total_seconds() / 3600
    power_kw = event.energy_kwh / hours
    readings: list[dict[str, object]] = []
    for instant in instants:
        charging = event.start <= instant < event.end
        done = min(max((instant - event.start).total_seconds() / 3600 / hours, 0.0), 1.0)
        reading: dict[str, object] = {"timestamp": _z(instant)}
        if key == "cp1":
            reading["positiveActiveInstantaneousPower"] = {
                "unit": "W",
                "value": round(power_kw * 1000 * rng.uniform(0.98, 1.02)) if charging else 0,
            }
            reading["positiveActiveEnergy"] = {
                "total": round(counter_kwh + event.energy_kwh * done, 3),
                "unit": "kWh",
            }
            reading["location"] = {
                "latitude": event.place.latitude,
                "longitude": event.place.longitude,
                "accuracy": 0.0,
            }
        else:
            assert event.soc_start_pct is not None
            assert event.soc_end_pct is not None
            soc = event.soc_start_pct + (event.soc_end_pct - event.soc_start_pct) * done
            reading["stateOfCharge"] = {"unit": "%", "value": round(soc, 1)}
            reading["location"] = _position(event.place, rng)
            if key == "ev1":
                reading["isCharging"] = charging
                reading["positiveActiveInstantaneousPower"] = {
                    "unit": "kW",
                    "value": round(power_kw * rng.uniform(0.98, 1.02), 2) if charging else 0.0,
                }
                reading["range"] = {"unit": "km", "value": round(soc * 4.9)}
            else:
                reading["isPluggedIn"] = instant < event.end
        readings.append(reading)
    return readings


async def _ensure_entity(
    connection: AsyncConnection,
    tenant_id: UUID,
    spec: DemoEntity,
    now_ms: int,
    detector_config: DetectorConfig,
) -> DemoEntity:
    row = await entities_repository.find_by_identifier(
        connection, tenant_id=tenant_id, identifier=spec.identifier
    )
    if row is None:
        row = await entities.create_entity(
            connection,
            tenant_id=tenant_id,
            entity_type=spec.type,
            name=spec.name,
            identifier=spec.identifier,
            brand=spec.brand,
            properties={"demo": True},
            now_ms=now_ms,
        )
        await tariffs.put_calendar(
            connection,
            tenant_id=tenant_id,
            entity_id=row.id,
            location_id=None,
            calendar=BELGIAN_DAY_NIGHT,
            valid_from_ms=0,
            now_ms=now_ms,
            detector_config=detector_config,
        )
        if spec.key == "ev2":
            await entities_repository.set_battery_capacity(
                connection, entity_id=row.id, capacity_kwh=77.0
            )
    known = {
        location.label
        for location in await locations_repository.list_locations(connection, entity_id=row.id)
    }
    for place in spec.places:
        if place.label not in known:
            await locations.create_location(
                connection,
                tenant_id=tenant_id,
                entity_id=row.id,
                label=place.label,
                address=place.address,
                latitude=place.latitude,
                longitude=place.longitude,
                radius_m=place.radius_m,
                now_ms=now_ms,
                detector_config=detector_config,
            )
    return DemoEntity(**{**spec.__dict__, "id": row.id})


async def build_demo_fleet(
    database: Database, *, now_ms: int, days: int, detector_config: DetectorConfig
) -> DemoFleet:
    """Create (or find) the demo tenant and post the devices' readings of the last `days`
    days through the readings pipeline, which detects and splits the sessions."""
    now = datetime.fromtimestamp(now_ms / 1000, tz=UTC)
    first_day = now.astimezone(BRUSSELS).date() - timedelta(days=days)
    events = simulate(until=now.astimezone(BRUSSELS).date())
    charger_password_hash = await ocpp_credentials.hash_password(SIMULATED_CHARGER_PASSWORD)
    async with database.write() as connection:
        tenant_id = await tenants_repository.find_tenant_by_name(connection, name=DEMO_TENANT_NAME)
        if tenant_id is None:
            credentials = await auth.create_tenant(connection, name=DEMO_TENANT_NAME, now_ms=now_ms)
        else:
            credentials = await auth.create_client(connection, tenant_id=tenant_id, now_ms=now_ms)
        fleet = DemoFleet(
            tenant_id=credentials.tenant_id,
            tenant_name=DEMO_TENANT_NAME,
            client_id=credentials.client_id,
            client_secret=credentials.client_secret,
            last_30_days_start=(now - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        for spec in DEMO_ENTITIES:
            fleet.entities[spec.key] = await _ensure_entity(
                connection, credentials.tenant_id, spec, now_ms, detector_config
            )
        charger = await _ensure_entity(
            connection, credentials.tenant_id, SIMULATED_CHARGER, now_ms, detector_config
        )
        assert charger.id is not None
        await ocpp_credentials.set_credentials(
            connection,
            tenant_id=credentials.tenant_id,
            entity_id=charger.id,
            password_hash=charger_password_hash,
            now_ms=now_ms,
        )
        fleet.simulated_charger = charger
    rng = random.Random(7)  # noqa: S311 - demo data
    for key, entity_events in events.items():
        entity = fleet.entities[key]
        assert entity.id is not None
        counter_kwh = 1520.0  # the wallbox's meter when the simulation starts
        for event in entity_events:
            posted = event_readings(key, event, counter_kwh, rng)  # drawn for every event,
            counter_kwh += event.energy_kwh  # so the data stays the same whatever `days` is
            if event.start.astimezone(BRUSSELS).date() < first_day or event.end > now:
                continue
            incoming = []
            for item in posted:
                reading, errors = parse_reading(item, now_ms=now_ms)
                assert reading is not None, errors
                incoming.append(reading)
            async with database.write() as connection:
                await readings.ingest_readings(
                    connection,
                    tenant_id=fleet.tenant_id,
                    entity_id=entity.id,
                    readings=incoming,
                    now_ms=now_ms,
                    config=detector_config,
                )
            fleet.session_count += 1
    fleet.reimbursement = await seed_reimbursement(
        database,
        tenant_id=fleet.tenant_id,
        entities={key: entity.id for key, entity in fleet.entities.items() if entity.id},
        since=SIMULATION_START,
        now_ms=now_ms,
    )
    return fleet
