"""Four values, one per tariff register (t1..t4), as decimals: energy or prices."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from chargeledger.domain.reimbursement.money import ZERO, plain

REGISTERS: Final = ("t1", "t2", "t3", "t4")


@dataclass(frozen=True, slots=True)
class Registers:
    t1: Decimal = ZERO
    t2: Decimal = ZERO
    t3: Decimal = ZERO
    t4: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        return self.t1 + self.t2 + self.t3 + self.t4

    def of(self, register: str) -> Decimal:
        value: Decimal = getattr(self, register)
        return value

    def values(self) -> tuple[Decimal, Decimal, Decimal, Decimal]:
        return (self.t1, self.t2, self.t3, self.t4)

    def combine(
        self, other: "Registers", how: Callable[[Decimal, Decimal], Decimal]
    ) -> "Registers":
        return Registers(*(how(a, b) for a, b in zip(self.values(), other.values(), strict=True)))

    def __add__(self, other: "Registers") -> "Registers":
        return self.combine(other, lambda a, b: a + b)

    def __sub__(self, other: "Registers") -> "Registers":
        return self.combine(other, lambda a, b: a - b)

    def is_zero(self) -> bool:
        return all(value == 0 for value in self.values())

    def as_text(self) -> dict[str, str]:
        return {register: plain(self.of(register)) for register in REGISTERS}

    @classmethod
    def from_mapping(cls, values: Mapping[str, Decimal]) -> "Registers":
        return cls(*(values.get(register, ZERO) for register in REGISTERS))
