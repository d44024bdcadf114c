"""The dashboards as data: valid PromQL, distinct titles, a grid that fits, a usable JSON."""

import json
from pathlib import Path

import yaml

from jan_models.ops.dashboards import DASHBOARDS, GRID, render
from tests.ops.promtool import promtool


def test_every_panel_query_is_valid_promql(tmp_path: Path) -> None:
    """promtool parses each query as a recording rule's expression."""
    rules = [
        {"record": f"panel:{spec.uid.replace('-', '_')}:{index}", "expr": panel.expr}
        for spec in DASHBOARDS
        for index, panel in enumerate(spec.panels)
    ]
    (tmp_path / "panels.yaml").write_text(
        yaml.safe_dump({"groups": [{"name": "p", "rules": rules}]})
    )
    result = promtool("check", "rules", tmp_path / "panels.yaml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_each_dashboard_has_distinct_panels_on_a_grid_that_does_not_overlap() -> None:
    for spec in DASHBOARDS:
        document = json.loads(render(spec))
        panels = document["panels"]
        assert len({p["id"] for p in panels}) == len(panels)
        titles = [p["title"] for p in panels if p["type"] != "row"]
        assert titles == [panel.title for panel in spec.panels]
        cells: set[tuple[int, int]] = set()
        for panel in panels:
            grid = panel["gridPos"]
            assert grid["x"] + grid["w"] <= GRID, panel["title"]
            area = {
                (x, y)
                for x in range(grid["x"], grid["x"] + grid["w"])
                for y in range(grid["y"], grid["y"] + grid["h"])
            }
            assert not cells & area, f"{panel['title']} overlaps another panel"
            cells |= area


def test_panels_read_the_dashboards_prometheus_variable() -> None:
    for spec in DASHBOARDS:
        document = json.loads(render(spec))
        assert document["uid"] == spec.uid
        assert [v["name"] for v in document["templating"]["list"]] == ["datasource"]
        for panel in document["panels"]:
            if panel["type"] == "row":
                continue
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            assert [t["refId"] for t in panel["targets"]] == ["A"]
