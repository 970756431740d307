"""What the detector reads and how it is tuned: one normalized reading, and the limits."""

from dataclasses import dataclass
from typing import Final

HOUR_MS: Final = 3_600_000
# What an electric car spends per km, as published for the fleet on the road (15-22 kWh per
# 100 km): how much of a drive's fall in state of charge was spent, not charged. Off by up
# to CONSUMPTION_SPREAD_KWH_PER_KM for a given car and trip, which the uncertainty carries.
TYPICAL_CONSUMPTION_KWH_PER_KM: Final = 0.18
CONSUMPTION_SPREAD_KWH_PER_KM: Final = 0.05


@dataclass(frozen=True, slots=True)
class Reading:
    """One normalized reading, in the ledger's units; any field but the timestamp may be None."""

    timestamp_ms: int
    soc_pct: float | None = None
    range_km: float | None = None
    is_charging: bool | None = None
    is_plugged_in: bool | None = None
    energy_counter_kwh: float | None = None
    power_kw: float | None = None
    latitude: float | None = None
    longitude: float | None = None
    position_uncertainty_m: float | None = None
    odometer_km: float | None = None
    speed_kmh: float | None = None


@dataclass(frozen=True, slots=True)
class DetectorConfig:
    # Silence after which a session still charging at its last reading is closed there.
    gap_limit_ms: int = 60 * 60_000
    pause_limit_ms: int = 15 * 60_000
    # The pause limit when the car says it stayed plugged in throughout the pause, or its
    # odometer or positions show it stayed put: then a pause is most likely a timer, the sun
    # behind a cloud or a full battery topping up, not a new plug-in.
    parked_pause_limit_ms: int = 60 * 60_000
    power_threshold_kw: float = 0.1
    min_energy_kwh: float = 0.05
    # A state-of-charge-only run must gain at least this much to be a session at all.
    min_soc_gain_pct: float = 1.0
    # An odometer that advanced more than this between two readings means the car drove.
    odometer_tolerance_km: float = 0.5
    # A car reporting "not charging" on both sides, with no counter, charged unseen in between
    # only if its state of charge rose at least this much while parked.
    hidden_charge_min_soc_gain_pct: float = 3.0
    battery_capacity_kwh: float | None = None

    @property
    def context_ms(self) -> int:
        """How far around a stretch of readings detection must look to decide it alone."""
        return max(self.gap_limit_ms, self.pause_limit_ms, self.parked_pause_limit_ms)
