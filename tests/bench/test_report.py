"""The table and the JSON file a run leaves behind, and the figures they are built from."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from jan_models.bench.report import HTTP_FLOOR, Check, Row, Run, result_path, table, write_json
from jan_models.bench.stats import Latency, percentile

STARTED = datetime(2026, 11, 26, 7, 5, 9, tzinfo=UTC)


def sample_run() -> Run:
    return Run(
        started_at=STARTED,
        machine={"nproc": 2, "cpu": "AMD EPYC", "loadavg_at_start": "1.00 0.50 0.25"},
        options={"sizes": "tiny"},
        rows=[
            Row("floors", HTTP_FLOOR, n=100, p50_ms=0.5, p99_ms=1.0, rps=1800.0, http_read=True),
            Row("status", "api GET /status", n=100, p50_ms=1.25, p99_ms=4.0, http_read=True),
            Row("status", "api GET /status x16", n=400, p50_ms=9.0, p99_ms=20.0, rps=1650.0),
            Row("inventory", "inventory ready", value=11.3, unit="s"),
        ],
        checks=[
            Check("status", "p50 within 3x of the HTTP floor", "2.5x", met=True),
            Check("inventory", "ready in under 30 s", "31.0 s", met=False),
        ],
    )


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile([3.0], 0.99) == 3.0
    with pytest.raises(ValueError, match="no values"):
        percentile([], 0.5)


def test_latency_reports_milliseconds_and_rate() -> None:
    latency = Latency.of([0.001, 0.002, 0.003, 0.004], errors=1, elapsed=0.5)
    assert (latency.n, latency.errors) == (4, 1)
    assert latency.p50_ms == pytest.approx(2.0)
    assert latency.p99_ms == pytest.approx(4.0)
    assert latency.rps == pytest.approx(8.0)
    assert Latency.of([], errors=3, elapsed=1.0).p50_ms is None


def test_http_reads_are_shown_as_multiples_of_the_floor() -> None:
    run = sample_run()
    assert run.x_floor(run.rows[1]) == pytest.approx(2.5)
    assert run.x_floor(run.rows[2]) is None  # a throughput row is not a latency multiple
    text = table(run)
    status_line = next(line for line in text.splitlines() if "api GET /status " in line + " ")
    assert "2.5x" in status_line
    assert "11.30 s" in text


def test_table_names_the_machine_and_marks_missed_targets() -> None:
    text = table(sample_run())
    assert "nproc=2" in text
    assert "cpu=AMD EPYC" in text
    assert "loadavg_at_start=1.00 0.50 0.25" in text
    assert "met    [status] p50 within 3x of the HTTP floor: 2.5x" in text
    assert "MISSED [inventory] ready in under 30 s: 31.0 s" in text


def test_json_is_one_file_per_run_named_by_date(tmp_path: Path) -> None:
    path = write_json(sample_run(), tmp_path / "results")
    assert path == result_path(tmp_path / "results", STARTED)
    assert path.name == "bench-20261126-070509.json"
    assert not list(path.parent.glob("*.tmp"))
    data = json.loads(path.read_text())
    assert data["machine"]["nproc"] == 2
    status = next(row for row in data["rows"] if row["name"] == "api GET /status")
    assert status["x_http_floor"] == pytest.approx(2.5)
    assert [check["met"] for check in data["checks"]] == [True, False]
