"""Settings measured in alternated rounds (shared by flow.py and workflows.py): each round runs
every setting once, each going first in turn, so a slow phase of the machine is spread over
all of them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence


async def alternated(
    settings: Sequence[str], repeat: int, measure: Callable[[str], Awaitable[float]], label: str
) -> dict[str, list[float]]:
    """``measure(setting)`` for every setting in each of ``repeat`` rounds, printed as it goes;
    the figures of each setting in round order."""
    rates: dict[str, list[float]] = {s: [] for s in settings}
    count = len(settings)
    for r in range(repeat):
        for setting in settings[r % count :] + settings[: r % count]:
            rates[setting].append(await measure(setting))
            print(f"  {label} r{r} {setting:15} {rates[setting][-1]:8,.0f} jobs/s", flush=True)
    return rates
