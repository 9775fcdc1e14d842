"""How long a loop that lost the database waits before trying again (pure: no I/O, no clock)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReconnectSchedule:
    """The wait after the n-th consecutive failure is ``min(first * factor ** (n - 1), cap)``:
    quick retries for a blip, then a steady pace that does not hammer a server coming back."""

    first: float = 0.5
    factor: float = 2.0
    cap: float = 5.0

    def __post_init__(self) -> None:
        if self.first < 0 or self.cap < self.first or self.factor < 1:
            raise ValueError("use 0 <= first <= cap and factor >= 1")

    def delay(self, failures: int) -> float:
        """Seconds to wait after the ``failures``-th consecutive failure (1-based; 0 waits 0)."""
        if failures < 1:
            return 0.0
        exponent = min(failures - 1, 64)  # 2 ** 64 * first is past any cap: no overflow
        return float(min(self.cap, self.first * self.factor**exponent))
