"""The run's figures: rows, target checks, the printed table and the JSON file.

Pure: building, rendering and serializing a run touches no server. Every HTTP read is
also shown as a multiple of the HTTP floor (a bare FastAPI endpoint behind the same
uvicorn setup), measured in the same run.
"""

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

HTTP_FLOOR = "http floor"


@dataclass(frozen=True, slots=True)
class Row:
    scenario: str
    name: str
    n: int | None = None
    errors: int = 0
    p50_ms: float | None = None
    p99_ms: float | None = None
    rps: float | None = None
    value: float | None = None
    unit: str = ""
    #: an HTTP read, shown as a multiple of the HTTP floor's p50
    http_read: bool = False

    @classmethod
    def of_latency(
        cls, scenario: str, name: str, latency: dict[str, Any], *, http_read: bool = False
    ) -> "Row":
        """A row from the load generator's latency figures (n, errors, p50, p99, rate)."""
        return cls(
            scenario=scenario,
            name=name,
            n=latency["n"],
            errors=latency["errors"],
            p50_ms=latency["p50_ms"],
            p99_ms=latency["p99_ms"],
            rps=latency["rps"],
            http_read=http_read,
        )

    @classmethod
    def of_running(cls, scenario: str, name: str, result: dict[str, Any]) -> "Row":
        """A row from an open loop's followed models: request -> running."""
        running = result["to_running"]
        return cls(
            scenario=scenario,
            name=name,
            n=running["n"],
            errors=result["not_running"],
            p50_ms=running["p50_ms"],
            p99_ms=running["p99_ms"],
        )


@dataclass(frozen=True, slots=True)
class Check:
    scenario: str
    target: str
    measured: str
    met: bool


@dataclass
class Run:
    started_at: datetime
    machine: dict[str, Any]
    options: dict[str, Any]
    rows: list[Row] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def floor_p50_ms(self) -> float | None:
        for row in self.rows:
            if row.name == HTTP_FLOOR and row.p50_ms:
                return row.p50_ms
        return None

    def x_floor(self, row: Row) -> float | None:
        floor = self.floor_p50_ms()
        if not row.http_read or floor is None or row.p50_ms is None:
            return None
        return row.p50_ms / floor

    def to_json(self) -> dict[str, Any]:
        return {
            "started_at": self.started_at.isoformat(),
            "machine": self.machine,
            "options": self.options,
            "rows": [asdict(row) | {"x_http_floor": self.x_floor(row)} for row in self.rows],
            "checks": [asdict(check) for check in self.checks],
            "notes": self.notes,
        }


def _num(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "-"
    if value >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


COLUMNS = ("scenario", "measurement", "n", "err", "p50 ms", "p99 ms", "req/s", "x floor", "value")


def table(run: Run) -> str:
    """The figures as a fixed-width text table, then the targets, then the machine."""
    lines = [
        f"jan-models bench  {run.started_at:%Y-%m-%d %H:%M:%S %Z}",
        "machine: "
        + ", ".join(f"{key}={value}" for key, value in run.machine.items() if key != "rss"),
        "",
    ]
    cells = [list(COLUMNS)]
    for row in run.rows:
        x_floor = run.x_floor(row)
        cells.append(
            [
                row.scenario,
                row.name,
                "-" if row.n is None else str(row.n),
                str(row.errors),
                _num(row.p50_ms),
                _num(row.p99_ms),
                _num(row.rps, 1),
                "-" if x_floor is None else f"{x_floor:.1f}x",
                "-" if row.value is None else f"{_num(row.value)} {row.unit}".strip(),
            ]
        )
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    for index, line in enumerate(cells):
        lines.append(
            "  ".join(
                cell.ljust(width) if column < 2 else cell.rjust(width)
                for column, (cell, width) in enumerate(zip(line, widths, strict=True))
            ).rstrip()
        )
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    if run.checks:
        lines += ["", "targets:"]
        for check in run.checks:
            mark = "met   " if check.met else "MISSED"
            lines.append(f"  {mark} [{check.scenario}] {check.target}: {check.measured}")
    lines += [f"note: {note}" for note in run.notes]
    return "\n".join(lines)


def result_path(directory: Path, started_at: datetime) -> Path:
    """One file per run, named by its start time (sorts by date)."""
    return directory / f"bench-{started_at:%Y%m%d-%H%M%S}.json"


def write_json(run: Run, directory: Path) -> Path:
    """Written to a `.tmp` sibling first (ignored by git), then renamed into place."""
    directory.mkdir(parents=True, exist_ok=True)
    path = result_path(directory, run.started_at)
    temp = path.with_suffix(".json.tmp")
    temp.write_text(json.dumps(run.to_json(), indent=2) + "\n")
    temp.replace(path)
    return path
