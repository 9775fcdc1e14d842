"""Medians, same-run ratios and the one table of bench/run.py.

``runs[system][scenario]`` holds one metrics dict per repeat (None where that repeat failed).
Ratios are taken inside each repeat, then their median is reported, so a slow phase of a noisy
machine moves both sides of a ratio together.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

Runs = dict[str, dict[str, list[dict[str, Any] | None]]]

THROUGHPUT = (
    "enqueue_single",
    "enqueue_bulk",
    "drain_1x10",
    "drain_2x10",
    "drain_best_1",
    "drain_best_2",
)
# (scenario, metric, label, unit): lower is better; zapjobs over the peer below 1 is quicker
LOWER_IS_BETTER = (
    ("latency", "p50_ms", "latency p50", "ms"),
    ("latency", "p95_ms", "latency p95", "ms"),
    ("latency", "p99_ms", "latency p99", "ms"),
    ("lateness", "p50_ms", "due-time lateness p50", "ms"),
    ("lateness", "p99_ms", "due-time lateness p99", "ms"),
    ("lateness", "max_ms", "due-time lateness max", "ms"),
    ("herd", "p50_ms", "herd pickup p50", "ms"),
    ("herd", "p99_ms", "herd pickup p99", "ms"),
    ("herd", "server_cpu_us_per_job", "herd server CPU per job", "us"),
)
PEERS = ("procrastinate", "pgqueuer-psycopg", "pgqueuer-asyncpg")


def median_or_none(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def metric(runs: Runs, system: str, scenario: str, name: str) -> list[float | None]:
    return [
        None if sample is None else sample.get(name)
        for sample in runs.get(system, {}).get(scenario, [])
    ]


def medians(runs: Runs) -> dict[str, dict[str, dict[str, float | None]]]:
    result: dict[str, dict[str, dict[str, float | None]]] = {}
    for system, scenarios in runs.items():
        for scenario, samples in scenarios.items():
            names = {k for s in samples if s for k, v in s.items() if isinstance(v, int | float)}
            result.setdefault(system, {})[scenario] = {
                name: median_or_none(metric(runs, system, scenario, name)) for name in sorted(names)
            }
    return result


def _paired(runs: Runs, a: tuple[str, str, str], b: tuple[str, str, str]) -> float | None:
    """The median over repeats of a/b, pairing the samples of one repeat."""
    ratios = []
    for x, y in zip(metric(runs, *a), metric(runs, *b), strict=False):
        if x and y:
            ratios.append(x / y)
    return statistics.median(ratios) if ratios else None


def ratios(runs: Runs) -> dict[str, dict[str, float | None]]:
    """zapjobs over each peer (throughput: above 1 zapjobs is faster; latency: below 1 zapjobs
    is quicker), the scale ratio, and each drain as a fraction of the pgbench ceiling."""
    result: dict[str, dict[str, float | None]] = {}
    for scenario in THROUGHPUT:
        result[scenario] = {
            peer: _paired(runs, ("zapjobs", scenario, "jobs_per_s"), (peer, scenario, "jobs_per_s"))
            for peer in PEERS
            if peer in runs
        }
    for scenario, name, _, _ in LOWER_IS_BETTER:
        result[f"{scenario}_{name}"] = {
            peer: _paired(runs, ("zapjobs", scenario, name), (peer, scenario, name))
            for peer in PEERS
            if peer in runs
        }
    result["scale_1m_over_empty"] = {
        "zapjobs": _paired(
            runs,
            ("zapjobs-1m", "drain_1x10", "jobs_per_s"),
            ("zapjobs-1m", "drain_1x10_empty", "jobs_per_s"),
        )
    }
    ceiling = ("postgresql", "pgbench_10c_x100", "jobs_per_s")
    for system in ("zapjobs", *PEERS):
        if system in runs:
            result.setdefault("fraction_of_ceiling", {})
            for scenario in THROUGHPUT[2:]:
                value = _paired(runs, (system, scenario, "jobs_per_s"), ceiling)
                if value is not None:
                    result["fraction_of_ceiling"][f"{system}:{scenario}"] = value
    return result


def _times(ratio: float) -> str:
    """A ratio as the table shows it: two decimals, two significant digits below 0.01."""
    return f"{ratio:.2f}x" if ratio >= 0.01 else f"{ratio:.2g}x"


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "ms":
        return f"{value:,.1f}"
    if unit == "MB":
        return f"{value:.0f}"
    return f"{value:,.0f}"


PGBENCH_LABELS = {
    "pgbench_1c_x1": "pgbench 1 client, 1 job/txn",
    "pgbench_10c_x1": "pgbench 10 clients, 1 job/txn",
    "pgbench_1c_x100": "pgbench 1 client, 100 jobs/txn",
    "pgbench_10c_x100": "pgbench 10 clients, 100 jobs/txn",
}


Row = tuple[str, str, list[str], str]  # label, unit, one cell per column, note


def table_rows(runs: Runs) -> tuple[list[str], list[Row | None]]:
    """(columns, rows) of the one table: scenarios down, systems across (PostgreSQL's own
    ceiling in its column), and how zapjobs compares with the best peer in the same repeats.
    None in rows starts a new section."""
    med = medians(runs)
    rat = ratios(runs)
    columns = [s for s in ("zapjobs", *PEERS, "zapjobs-sqlite") if s in runs]
    if "postgresql" in runs:
        columns.append("postgresql")
    rows: list[Row | None] = []

    def add(label: str, unit: str, values: dict[str, float | None], note: str = "") -> None:
        cells = [_fmt(values.get(c), unit) for c in columns]
        if any(cell != "-" for cell in cells):
            rows.append((label, unit, cells, note))

    def pick(system: str, scenario: str, name: str) -> float | None:
        return med.get(system, {}).get(scenario, {}).get(name)

    for scenario in THROUGHPUT:
        best = [r for r in rat.get(scenario, {}).values() if r is not None]
        values = {c: pick(c, scenario, "jobs_per_s") for c in columns}
        add(scenario, "jobs/s", values, _times(min(best)) if best else "")
    for scenario, name, label, unit in LOWER_IS_BETTER:
        best = [r for r in rat.get(f"{scenario}_{name}", {}).values() if r is not None]
        values = {c: pick(c, scenario, name) for c in columns}
        add(f"{label} (lower is better)", unit, values, _times(max(best)) if best else "")
    for scenario in ("drain_1x10", "drain_best_1"):
        values = {c: pick(c, scenario, "peak_rss_mb") for c in columns}
        add(f"worker peak RSS, {scenario}", "MB", values)

    rows.append(None)
    scale = rat.get("scale_1m_over_empty", {}).get("zapjobs")
    for label, scenario in (
        ("drain_1x10, empty runs table", "drain_1x10_empty"),
        ("drain_1x10, 1M finished runs", "drain_1x10"),
    ):
        note = f"1M / empty: {scale:.2f}" if scale and scenario == "drain_1x10" else ""
        add(label, "jobs/s", {"zapjobs": pick("zapjobs-1m", scenario, "jobs_per_s")}, note)
    for scenario, label in PGBENCH_LABELS.items():
        add(label, "jobs/s", {"postgresql": pick("postgresql", scenario, "jobs_per_s")})
    return columns, rows


def render(runs: Runs, repeats: int, console: Console) -> None:
    """The table on the terminal."""
    columns, rows = table_rows(runs)
    table = Table(title=f"zapjobs benchmark: medians of {repeats} run(s)")
    for name in ("scenario", "unit", *columns, "zapjobs ÷ best peer"):
        table.add_column(name, justify="left" if name in ("scenario", "unit") else "right")
    for row in rows:
        if row is None:
            table.add_section()
        else:
            label, unit, cells, note = row
            table.add_row(label, unit, *cells, note)
    console.print(table)


def markdown(runs: Runs) -> str:
    """The same table in Markdown, as bench/README.md shows it."""
    columns, rows = table_rows(runs)
    header = ["scenario", "unit", *columns, "zapjobs ÷ best peer"]
    lines = [
        "| " + " | ".join(header) + " |",
        "|---|---|" + "---:|" * (len(columns) + 1),
    ]
    for row in rows:
        if row is not None:
            label, unit, cells, note = row
            lines.append("| " + " | ".join([label, unit, *cells, note]) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """``python bench/report.py FILE.json``: the Markdown table of a run's JSON file."""
    import argparse
    import json

    parser = argparse.ArgumentParser(description="the Markdown table of a bench/run.py JSON file")
    parser.add_argument("json_file")
    args = parser.parse_args(argv)
    with open(args.json_file, encoding="utf-8") as handle:
        data = json.load(handle)
    print(markdown(data["runs"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
