"""Behaviour: one car's timeline of drives and parks over the simulated days.

Commuters drive to the office on Belgian working days (weekends and public holidays off),
charging there on some days; at home they plug in when the battery is low or by habit, and the
wallbox starts at once, on a timer (22:00, 01:00, 02:30 local; some timers stop at 07:00) or
follows the solar surplus. Some immediate charges pause (load balancing). Long weekend trips
need DC fast-charge stops; some stops are only minutes long. Cars without a wallbox charge at
a street charger a few hundred metres from home, which is not Home.
"""

import math
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

import holidays

from bench.accuracy.fleet import Car
from bench.accuracy.physics import (
    MIN_AC_POWER_KW,
    PowerAt,
    PowerStep,
    ac_power_kw,
    clear_sky_pv_kw,
    dc_power_kw,
    integrate_charge,
)

BRUSSELS = ZoneInfo("Europe/Brussels")
ChargeKind = Literal["home", "street", "office", "dc"]
RESERVE_SOC = 0.10  # drivers stop to charge before the battery goes below this


@dataclass(frozen=True, slots=True)
class Place:
    key: str
    latitude: float
    longitude: float
    at_home: bool = False


@dataclass(frozen=True, slots=True)
class Charge:
    """One plug-in and the power that flowed during it (empty when nothing flowed)."""

    kind: ChargeKind
    plug_in_s: float
    plug_out_s: float
    steps: list[PowerStep]

    @property
    def energy_kwh(self) -> float:
        return sum(step.energy_kwh for step in self.steps)


@dataclass(frozen=True, slots=True)
class Drive:
    start_s: float
    end_s: float
    origin: Place
    destination: Place
    distance_km: float
    odometer_km: float  # at the start
    soc_start: float
    soc_end: float


@dataclass(frozen=True, slots=True)
class Park:
    start_s: float
    end_s: float
    place: Place
    odometer_km: float
    soc_start: float
    counter_start_kwh: float  # the car's lifetime charged energy when it parked
    charge: Charge | None


Segment = Drive | Park
# What a plug-in does: (kind, power into the battery, charging allowed from, until).
ChargePlan = tuple[ChargeKind, PowerAt, float, float]


@dataclass
class Timeline:
    car: Car
    start_s: float
    end_s: float
    segments: list[Segment] = field(default_factory=list)


def local_instant(day: date, hour: int, minute: int) -> float:
    """Unix seconds of a local wall-clock time (the first one on the fall-back night; a time
    skipped in spring is read with the winter offset, as zoneinfo does)."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=BRUSSELS).timestamp()


def next_local(after_s: float, hour: int, minute: int) -> float:
    day = datetime.fromtimestamp(after_s, BRUSSELS).date()
    candidate = local_instant(day, hour, minute)
    return candidate if candidate > after_s else local_instant(day + timedelta(1), hour, minute)


@lru_cache(maxsize=8)
def _belgian_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("BE", years=year))


def is_working_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _belgian_holidays(day.year)


def offset_place(key: str, origin: tuple[float, float], east_m: float, north_m: float) -> Place:
    latitude = origin[0] + north_m / 111_320.0
    longitude = origin[1] + east_m / (111_320.0 * math.cos(math.radians(origin[0])))
    return Place(key, latitude, longitude)


class CarSimulation:
    """Builds the timeline step by step, keeping the car's state (place, SoC, odometer)."""

    def __init__(self, car: Car, start: date, days: int) -> None:
        self.car = car
        self.rng = random.Random(f"world/{car.seed}/{car.index}")
        self.start_day = start
        self.days = days
        start_s = local_instant(start, 0, 0)
        self.timeline = Timeline(car, start_s, local_instant(start + timedelta(days), 0, 0))
        # The driveway: a few metres from the Home circle's centre.
        self.home = offset_place(
            "home", car.home, self.rng.uniform(-12, 12), self.rng.uniform(-12, 12)
        )
        self.home = Place("home", self.home.latitude, self.home.longitude, at_home=True)
        angle = self.rng.uniform(0, 2 * math.pi)
        street_m = self.rng.uniform(180, 400)
        self.street = offset_place(
            "street", car.home, street_m * math.cos(angle), street_m * math.sin(angle)
        )
        self.office = offset_place(
            "office", car.office, self.rng.uniform(-40, 40), self.rng.uniform(-40, 40)
        )
        self.now_s = start_s
        self.place = self.home
        self.soc = self.rng.uniform(0.5, 0.8)
        self.odometer_km = self.rng.uniform(3_000, 90_000)
        self.counter_kwh = self.rng.uniform(50, 20_000)
        self.places_made = 0

    # --- primitives -------------------------------------------------------------------

    def park_until(self, until_s: float, charge: ChargePlan | None) -> None:
        """Park here until `until_s`, plugged in as `charge` says (if at all)."""
        until_s = max(until_s, self.now_s + 60)
        plugged: Charge | None = None
        soc_start = self.soc
        if charge is not None:
            kind, power_at, charge_from_s, charge_until_s = charge
            plug_in_s = self.now_s + self.rng.uniform(30, 240)
            plug_out_s = max(plug_in_s + 60, until_s - self.rng.uniform(60, 300))
            target = 0.8 if kind == "dc" else self.car.target_soc
            steps, self.soc = integrate_charge(
                max(plug_in_s, charge_from_s),
                min(plug_out_s, charge_until_s),
                self.soc,
                self.car.model.capacity_kwh,
                target,
                power_at,
            )
            plugged = Charge(kind, plug_in_s, plug_out_s, steps)
        park = Park(
            self.now_s, until_s, self.place, self.odometer_km, soc_start, self.counter_kwh, plugged
        )
        if plugged is not None:
            self.counter_kwh += plugged.energy_kwh
        self.timeline.segments.append(park)
        self.now_s = until_s

    def _leg(self, destination: Place, distance_km: float, speed_kmh: float) -> None:
        used_soc = distance_km * self.car.model.consumption_kwh_per_km / self.car.model.capacity_kwh
        end_s = self.now_s + distance_km / speed_kmh * 3600.0
        self.timeline.segments.append(
            Drive(
                self.now_s,
                end_s,
                self.place,
                destination,
                distance_km,
                self.odometer_km,
                self.soc,
                self.soc - used_soc,
            )
        )
        self.now_s, self.place = end_s, destination
        self.soc -= used_soc
        self.odometer_km += distance_km

    def _waypoint(self, origin: Place, destination: Place, share: float) -> Place:
        self.places_made += 1
        return Place(
            f"stop-{self.places_made}",
            origin.latitude + (destination.latitude - origin.latitude) * share,
            origin.longitude + (destination.longitude - origin.longitude) * share,
        )

    def _dc_stop(self, minutes: float) -> None:
        station_kw = self.rng.choice((50.0, 150.0, 300.0))
        model = self.car.model

        def power(_: float, soc: float) -> float:
            return dc_power_kw(soc, model.dc_peak_kw, model.dc_knee_soc, station_kw)

        self.park_until(self.now_s + minutes * 60, ("dc", power, 0.0, math.inf))

    def drive_to(
        self, destination: Place, distance_km: float, speed_kmh: float, short_stop: bool = False
    ) -> None:
        """Drive there, stopping at DC chargers on the way when the battery needs it."""
        origin, done_km = self.place, 0.0
        consumption = self.car.model.consumption_kwh_per_km / self.car.model.capacity_kwh
        while True:
            remaining_km = distance_km - done_km
            if short_stop and remaining_km > distance_km / 2:
                # A splash-and-dash: minutes at a fast charger half way, for coffee.
                leg_km = max(
                    min(remaining_km - distance_km / 2, (self.soc - RESERVE_SOC) / consumption),
                    min(2.0, remaining_km),
                )
                kind_minutes = self.rng.uniform(2, 8)
                short_stop = False
            elif self.soc - remaining_km * consumption >= RESERVE_SOC:
                self._leg(destination, remaining_km, speed_kmh)
                return
            else:
                arrive_soc = min(self.soc, self.rng.uniform(0.12, 0.3))
                # At least a short leg: a stop is on the road, never in the driveway.
                leg_km = max((self.soc - arrive_soc) / consumption, min(2.0, remaining_km))
                kind_minutes = self.rng.uniform(20, 40)
            done_km += leg_km
            if leg_km > 0:
                self._leg(
                    self._waypoint(origin, destination, done_km / distance_km), leg_km, speed_kmh
                )
            self._dc_stop(kind_minutes)

    # --- charging plans ---------------------------------------------------------------

    def _ac_power(self, evse_kw: float) -> PowerAt:
        limit_kw, taper = min(self.car.model.ac_limit_kw, evse_kw), self.car.model.ac_taper_soc
        return lambda _instant, soc: ac_power_kw(soc, limit_kw, taper)

    def _paused(self, power_at: PowerAt, pause_from_s: float, pause_to_s: float) -> PowerAt:
        def paused(instant: float, soc: float) -> float:
            return 0.0 if pause_from_s <= instant < pause_to_s else power_at(instant, soc)

        return paused

    def _solar(self, start_s: float, until_s: float) -> PowerAt:
        """The PV surplus over a house load, with clouds as a random walk per 5 minutes."""
        clouds = random.Random(f"clouds/{self.car.seed}/{self.car.index}/{start_s}")
        slots, level = [], clouds.uniform(0.2, 1.0)
        for _ in range(int((until_s - start_s) // 300) + 2):
            level = min(1.0, max(0.05, level + clouds.gauss(0, 0.12)))
            slots.append(level)
        limit_kw, taper = (
            min(self.car.model.ac_limit_kw, self.car.evse_kw),
            self.car.model.ac_taper_soc,
        )
        peak_kw, house_kw = self.car.pv_peak_kw, 0.4

        def power(instant: float, soc: float) -> float:
            local = datetime.fromtimestamp(instant, BRUSSELS)
            hour = local.hour + local.minute / 60 + local.second / 3600
            pv_kw = clear_sky_pv_kw(hour, peak_kw, local.timetuple().tm_yday)
            surplus_kw = pv_kw * slots[int((instant - start_s) // 300)] - house_kw
            available_kw = min(surplus_kw, ac_power_kw(soc, limit_kw, taper))
            # Whole minutes of constant power: the wallbox re-regulates about once a minute.
            return round(available_kw, 1) if available_kw >= MIN_AC_POWER_KW else 0.0

        return power

    def home_charge(self, until_s: float) -> ChargePlan | None:
        """The plug-in for parking at home (or at the street charger) until `until_s`."""
        car, rng = self.car, self.rng
        if self.place.key == "street":
            return ("street", self._ac_power(11.0), 0.0, math.inf)
        if self.place.key != "home":
            return None
        if not (self.soc < car.plug_below_soc or rng.random() < car.plug_habit_prob):
            return None
        if self.soc >= car.target_soc:
            return None
        if car.home_mode == "solar" and self.soc > 0.3:
            return ("home", self._solar(self.now_s, until_s), 0.0, math.inf)
        if car.home_mode == "scheduled":
            begin_s = next_local(self.now_s, *car.schedule_start)
            stop_s = next_local(begin_s, 7, 0) if car.schedule_stops_at_seven else math.inf
            return ("home", self._ac_power(car.evse_kw), begin_s, stop_s)
        power = self._ac_power(car.evse_kw)
        if rng.random() < car.pause_prob:
            pause_from_s = self.now_s + rng.uniform(20, 90) * 60
            power = self._paused(power, pause_from_s, pause_from_s + rng.uniform(5, 60) * 60)
        return ("home", power, 0.0, math.inf)

    def go_home(self, distance_km: float, speed_kmh: float) -> None:
        """Home, or to the street charger when the car has no wallbox and wants charge."""
        car = self.car
        wants = self.soc < car.plug_below_soc or self.rng.random() < car.plug_habit_prob
        street = car.home_charger == "street" and wants and self.soc < car.target_soc
        self.drive_to(self.street if street else self.home, distance_km, speed_kmh)

    def stay_home_until(self, until_s: float) -> None:
        self.park_until(until_s, self.home_charge(until_s))
