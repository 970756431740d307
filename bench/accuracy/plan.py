"""The days of one car: what it does on working days, weekends and holidays."""

import math
from datetime import date, timedelta

from bench.accuracy.fleet import Car
from bench.accuracy.physics import ac_power_kw
from bench.accuracy.world import (
    CarSimulation,
    ChargePlan,
    Place,
    Timeline,
    is_working_day,
    local_instant,
    offset_place,
)


def _distance_km(a: Place, b: Place) -> float:
    north_km = (b.latitude - a.latitude) * 111.32
    east_km = (b.longitude - a.longitude) * 111.32 * math.cos(math.radians(a.latitude))
    return math.hypot(north_km, east_km)


def _away_place(sim: CarSimulation, key: str, road_km: float) -> Place:
    """Somewhere `road_km` away by road (roads are about 1.3 times the straight line)."""
    angle = sim.rng.uniform(0, 2 * math.pi)
    straight_m = road_km / 1.3 * 1000
    return offset_place(
        key,
        (sim.home.latitude, sim.home.longitude),
        straight_m * math.cos(angle),
        straight_m * math.sin(angle),
    )


def _commute(sim: CarSimulation, day: date) -> None:
    car, rng = sim.car, sim.rng
    departure_s = local_instant(day, 7, 15) + rng.uniform(0, 75) * 60
    if departure_s <= sim.now_s:
        return
    sim.stay_home_until(departure_s)
    sim.drive_to(sim.office, car.commute_km, rng.uniform(40, 70))
    leave_s = local_instant(day, 16, 30) + rng.uniform(0, 90) * 60
    charge: ChargePlan | None = None
    if rng.random() < car.office_charge_prob and sim.soc < car.target_soc:
        limit_kw, taper = min(car.model.ac_limit_kw, 11.0), car.model.ac_taper_soc
        charge = ("office", lambda _t, soc: ac_power_kw(soc, limit_kw, taper), 0.0, math.inf)
    sim.park_until(leave_s, charge)
    sim.go_home(car.commute_km, rng.uniform(40, 70))
    if rng.random() < 0.25:
        _errand(sim, sim.now_s + rng.uniform(30, 120) * 60)


def _errand(sim: CarSimulation, departure_s: float) -> None:
    rng = sim.rng
    sim.stay_home_until(departure_s)
    road_km = rng.uniform(3, 20)
    sim.drive_to(_away_place(sim, "errand", road_km), road_km, rng.uniform(30, 60))
    sim.park_until(sim.now_s + rng.uniform(20, 120) * 60, None)
    sim.go_home(road_km, rng.uniform(30, 60))


def _long_trip(sim: CarSimulation, day: date) -> None:
    rng = sim.rng
    departure_s = local_instant(day, 8, 0) + rng.uniform(0, 120) * 60
    if departure_s <= sim.now_s:
        return
    sim.stay_home_until(departure_s)
    road_km = rng.uniform(120, 320)
    away = _away_place(sim, "trip", road_km)
    sim.drive_to(
        away, road_km, rng.uniform(85, 115), short_stop=rng.random() < sim.car.short_dc_prob
    )
    sim.park_until(sim.now_s + rng.uniform(2, 5) * 3600, None)
    back_km = road_km * rng.uniform(0.98, 1.05)
    sim.drive_to(
        sim.home, back_km, rng.uniform(85, 115), short_stop=rng.random() < sim.car.short_dc_prob
    )


def simulate_timeline(car: Car, start: date, days: int) -> Timeline:
    """The car's drives and parks over `days` local days from `start`. The last day it stays
    parked without charging, so every true session has ended before the data does."""
    sim = CarSimulation(car, start, days)
    for offset in range(days - 1):
        day = start + timedelta(offset)
        working = is_working_day(day)
        if working and car.commuter and sim.rng.random() >= car.wfh_prob:
            _commute(sim, day)
        elif sim.rng.random() < (car.long_trip_prob if not working else 0.04):
            _long_trip(sim, day)
        elif sim.rng.random() < 0.6:
            departure_s = local_instant(day, 10, 0) + sim.rng.uniform(0, 300) * 60
            if departure_s > sim.now_s:
                _errand(sim, departure_s)
    last_day_s = local_instant(start + timedelta(days - 1), 0, 0)
    if sim.now_s < last_day_s:
        sim.stay_home_until(last_day_s)
    sim.park_until(sim.timeline.end_s, None)
    assert sim.now_s == sim.timeline.end_s or sim.now_s - sim.timeline.end_s < 1e-6
    return sim.timeline
