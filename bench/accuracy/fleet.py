"""Car models and the per-car habits of driver and car cloud, drawn from a seed.

Model figures are typical of current EVs (usable capacity, AC on-board charger, DC peak and
where its taper starts, consumption over a Belgian year); no model is a particular brand.
"""

import random
from dataclasses import dataclass
from datetime import date
from typing import Literal

Channel = Literal["counter", "power", "stateOfCharge"]
CHANNELS: tuple[Channel, ...] = ("counter", "power", "stateOfCharge")
HomeMode = Literal["immediate", "scheduled", "solar"]
HomeCharger = Literal["wallbox", "street"]


@dataclass(frozen=True, slots=True)
class CarModel:
    name: str
    capacity_kwh: float  # usable
    ac_limit_kw: float  # on-board charger
    dc_peak_kw: float
    dc_knee_soc: float  # DC power starts to taper here
    ac_taper_soc: float  # AC power starts to taper here
    consumption_kwh_per_km: float


MODELS: tuple[CarModel, ...] = (
    CarModel("city-42", 42.0, 7.4, 50.0, 0.50, 0.95, 0.150),
    CarModel("budget-40", 40.0, 3.7, 46.0, 0.50, 0.93, 0.140),
    CarModel("compact-58", 58.0, 11.0, 120.0, 0.55, 0.93, 0.165),
    CarModel("sedan-75", 75.0, 11.0, 250.0, 0.50, 0.92, 0.155),
    CarModel("suv-77", 77.0, 11.0, 175.0, 0.60, 0.92, 0.190),
    CarModel("large-100", 100.0, 22.0, 150.0, 0.55, 0.90, 0.220),
)

# Offices the commuters drive to (lat, lon): Brussels, Leuven, Antwerp, Ghent.
OFFICES: tuple[tuple[float, float], ...] = (
    (50.8466, 4.3528),
    (50.8796, 4.7009),
    (51.2194, 4.4025),
    (51.0543, 3.7174),
)


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    cars: int
    start: date  # local date of the first simulated day (Europe/Brussels)
    days: int
    # Fault rates, scaled up in the small profile so every fault type appears.
    outages_per_week: float
    outage_mid_charging: int  # outages placed inside a charging session, per car
    shuffle_prob: float  # a delivery batch arrives in shuffled order
    duplicate_prob: float  # a batch re-sends some readings of the batch before
    swap_prob: float  # a batch arrives before the one preceding it
    backlogs_per_car: float  # stretches of days delivered late, per car on average


PROFILES: dict[str, Profile] = {
    # Three weeks over the autumn DST change (27 Oct 2024), All Saints (Fri 1 Nov) and
    # Armistice Day (Mon 11 Nov).
    "ci": Profile("ci", 12, date(2024, 10, 21), 22, 1.5, 1, 0.25, 0.2, 0.15, 1.0),
    # Three months over the same DST change and holidays.
    "full": Profile("full", 60, date(2024, 9, 2), 91, 0.7, 1, 0.08, 0.05, 0.05, 0.4),
}


@dataclass(frozen=True, slots=True)
class Car:
    """One simulated car: its model, its driver's habits and its cloud's telemetry habits."""

    index: int
    seed: int
    model: CarModel
    channel: Channel
    # Telemetry: which fields, in which units and steps.
    reports_is_charging: bool
    reports_power: bool
    reports_plugged: bool
    reports_odometer: bool
    reports_accuracy: bool
    counter_unit: Literal["kWh", "Wh"]
    counter_step_kwh: float
    power_unit: Literal["kW", "W"]
    power_step_kw: float
    distance_unit: Literal["km", "mi"]
    soc_step_pct: float
    gps_sigma_m: float
    clock_jitter_s: float
    awake_interval_s: float
    asleep_interval_s: float
    awake_tail_s: float
    miss_prob: float
    batch_hours: float
    # Behaviour.
    home: tuple[float, float]
    office: tuple[float, float]
    home_radius_m: float
    home_charger: HomeCharger
    evse_kw: float
    home_mode: HomeMode
    schedule_start: tuple[int, int]  # local hh, mm
    schedule_stops_at_seven: bool
    target_soc: float
    plug_below_soc: float
    plug_habit_prob: float
    pause_prob: float
    commuter: bool
    commute_km: float
    wfh_prob: float
    office_charge_prob: float
    long_trip_prob: float
    short_dc_prob: float
    pv_peak_kw: float

    @property
    def name(self) -> str:
        return f"car-{self.index:03d}"


def make_car(index: int, seed: int) -> Car:
    """Car `index` of a fleet drawn from `seed`; its channel cycles so each has a third."""
    rng = random.Random(f"car/{seed}/{index}")
    channel = CHANNELS[index % 3]
    model = rng.choice(MODELS)
    home = (50.75 + rng.random() * 0.45, 3.8 + rng.random() * 1.2)
    home_charger: HomeCharger = "street" if rng.random() < 0.12 else "wallbox"
    home_mode: HomeMode = rng.choice(("immediate", "immediate", "scheduled", "scheduled", "solar"))
    return Car(
        index=index,
        seed=seed,
        model=model,
        channel=channel,
        reports_is_charging=channel == "power" or (channel == "counter" and rng.random() < 0.5),
        reports_power=channel == "power" or (channel == "counter" and rng.random() < 0.5),
        reports_plugged=channel != "stateOfCharge" and rng.random() < 0.6,
        reports_odometer=rng.random() < 0.85,
        reports_accuracy=rng.random() < 0.5,
        counter_unit=rng.choice(("kWh", "Wh")),
        counter_step_kwh=rng.choice((0.001, 0.01)),
        power_unit=rng.choice(("kW", "W")),
        power_step_kw=rng.choice((0.001, 0.01, 0.1)),
        distance_unit="mi" if rng.random() < 0.2 else "km",
        soc_step_pct=rng.choice((1.0, 0.1)),
        gps_sigma_m=rng.uniform(5, 30),
        clock_jitter_s=rng.uniform(0, 4),
        awake_interval_s=60.0 * rng.choice((1, 2, 5, 10, 15)),
        asleep_interval_s=60.0 * rng.uniform(30, 60),
        awake_tail_s=60.0 * rng.uniform(10, 30),
        miss_prob=rng.uniform(0.0, 0.04),
        batch_hours=rng.choice((1.0, 3.0, 6.0, 12.0)),
        home=home,
        office=rng.choice(OFFICES),
        home_radius_m=rng.uniform(50, 100),
        home_charger=home_charger,
        evse_kw=rng.choice((3.7, 7.4, 11.0, 11.0, 22.0)),
        home_mode=home_mode,
        schedule_start=rng.choice(((22, 0), (1, 0), (2, 30))),
        schedule_stops_at_seven=rng.random() < 0.4,
        target_soc=rng.choice((0.8, 0.8, 0.9, 1.0)),
        plug_below_soc=rng.uniform(0.25, 0.5),
        plug_habit_prob=rng.uniform(0.0, 0.15),
        pause_prob=rng.uniform(0.0, 0.3),
        commuter=rng.random() < 0.85,
        commute_km=rng.uniform(5, 45),
        wfh_prob=rng.uniform(0.0, 0.3),
        office_charge_prob=rng.choice((0.0, 0.0, 0.0, 0.1, 0.3)),
        long_trip_prob=rng.uniform(0.03, 0.15),
        short_dc_prob=rng.uniform(0.1, 0.4),
        pv_peak_kw=rng.uniform(4, 9),
    )
