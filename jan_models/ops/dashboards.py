"""The Grafana dashboards, as code (grafana-foundation-sdk); JSON committed in deploy/grafana/.

Each panel is one PromQL query over the metrics the services export. `DASHBOARDS` is the
single list of what each dashboard shows: the JSON is built from it, and the end-to-end
test runs every panel's query against a real Prometheus scraping the stack.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal, Protocol, Self, cast

from grafana_foundation_sdk.builders import heatmap, prometheus, stat, table, timeseries
from grafana_foundation_sdk.builders.dashboard import Dashboard, DatasourceVariable, Row
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.variants import Dataquery
from grafana_foundation_sdk.models.dashboard import DataSourceRef, GridPos, Panel

from jan_models.ops.alerts import drifts_within

Visual = Literal["stat", "timeseries", "table", "heatmap"]
DATASOURCE: Final = DataSourceRef(type_val="prometheus", uid="${datasource}")
SCHEDULABLE_FREE: Final = (
    "jan_models_gpu_free * on (node) group_left () jan_models_node_schedulable"
)


@dataclass(frozen=True, slots=True)
class PanelSpec:
    title: str
    expr: str
    visual: Visual = "timeseries"
    legend: str = ""
    unit: str = "short"
    description: str = ""


@dataclass(frozen=True, slots=True)
class DashboardSpec:
    uid: str
    title: str
    description: str
    rows: tuple[tuple[str, tuple[PanelSpec, ...]], ...]

    @property
    def panels(self) -> list[PanelSpec]:
        return [panel for _, panels in self.rows for panel in panels]


GPU_CLUSTER = DashboardSpec(
    uid="jan-models-gpu-cluster",
    title="jan-models / GPU cluster",
    description="GPU capacity, use and free GPUs by product and node, and why nodes take no pods.",
    rows=(
        (
            "Capacity",
            (
                PanelSpec("GPUs allocatable", "sum(jan_models_gpu_allocatable)", "stat"),
                PanelSpec("GPUs allocated", "sum(jan_models_gpu_allocated)", "stat"),
                PanelSpec("GPUs reserved", "sum(jan_models_gpu_reserved)", "stat"),
                PanelSpec(
                    "GPUs free on schedulable nodes",
                    f"sum({SCHEDULABLE_FREE})",
                    "stat",
                    description="Free GPUs on nodes that are Ready, not cordoned, not tainted.",
                ),
            ),
        ),
        (
            "By product",
            (
                PanelSpec(
                    "Free GPUs by product",
                    f"sum by (product) ({SCHEDULABLE_FREE})",
                    legend="{{product}}",
                ),
                PanelSpec(
                    "Allocatable GPUs by product",
                    "sum by (product) (jan_models_gpu_allocatable)",
                    legend="{{product}}",
                ),
            ),
        ),
        (
            "Nodes",
            (
                PanelSpec(
                    "GPU use per node",
                    "jan_models_gpu_allocated / jan_models_gpu_allocatable",
                    "heatmap",
                    legend="{{node}}",
                    unit="percentunit",
                    description="Share of each node's GPUs held by bound pods.",
                ),
                PanelSpec(
                    "Unschedulable nodes",
                    "jan_models_node_schedulable == 0",
                    "table",
                    legend="{{node}} {{reason}}",
                    description="Nodes that take no new pods, and why: not_ready, cordoned, tainted.",
                ),
                PanelSpec(
                    "Memory per GPU",
                    "jan_models_gpu_memory_mib",
                    "table",
                    legend="{{node}}",
                    unit="mbytes",
                ),
            ),
        ),
    ),
)

MODELS = DashboardSpec(
    uid="jan-models-models",
    title="jan-models / Models",
    description="Managed models by status and organization, failures and their reasons, replicas.",
    rows=(
        (
            "Registry",
            (
                PanelSpec(
                    "Models by status", "sum by (status) (jan_models_models)", legend="{{status}}"
                ),
                PanelSpec(
                    "Models by organization",
                    "sum by (organization_id) (jan_models_models)",
                    "table",
                    legend="{{organization_id}}",
                ),
                PanelSpec(
                    "Failed models by organization",
                    'sum by (organization_id) (jan_models_models{status="failed"})',
                    "table",
                    legend="{{organization_id}}",
                ),
            ),
        ),
        (
            "Cluster",
            (
                PanelSpec(
                    "Model Deployments by phase",
                    "sum by (managed, status) (jan_models_workloads)",
                    legend="managed={{managed}} {{status}}",
                    description="Every Deployment labelled model.aibrix.ai/name, ours or not.",
                ),
                PanelSpec(
                    "Failures by reason",
                    "sum by (reason) (jan_models_workload_failures)",
                    "table",
                    legend="{{reason}}",
                ),
                PanelSpec(
                    "Ready replicas per model",
                    'jan_models_model_replicas{state="ready"}',
                    legend="{{namespace}}/{{name}}",
                ),
                PanelSpec(
                    "Replicas not ready per model",
                    'jan_models_model_replicas{state="desired"}'
                    ' - ignoring (state) jan_models_model_replicas{state="ready"}',
                    legend="{{namespace}}/{{name}}",
                ),
            ),
        ),
        (
            "Lifecycle",
            (
                PanelSpec(
                    "Lifecycle events by type",
                    'sum by (type) (rate({__name__=~"jan_models_.+_events_published_total"}[5m]))',
                    legend="{{type}}",
                    unit="ops",
                ),
                PanelSpec(
                    "Time to running p90 (1h)",
                    "histogram_quantile(0.9, sum by (le)"
                    " (rate(jan_models_model_time_to_running_seconds_bucket[1h])))",
                    "stat",
                    unit="s",
                    description="From a model Deployment's creation to its first running event.",
                ),
                PanelSpec(
                    "Drifts per model (1h)",
                    drifts_within("1h"),
                    "table",
                    legend="{{namespace}}/{{name}}",
                ),
            ),
        ),
    ),
)

CONTROL_PLANE = DashboardSpec(
    uid="jan-models-control-plane",
    title="jan-models / Control plane",
    description="The api, its outbox, the deployer's backlog and latency, the inventory's watches.",
    rows=(
        (
            "API",
            (
                PanelSpec(
                    "Requests by route and status",
                    "sum by (route, status) (rate(jan_models_api_requests_total[5m]))",
                    legend="{{route}} {{status}}",
                    unit="reqps",
                ),
                PanelSpec(
                    "Errors by route and status",
                    'sum by (route, status) (rate(jan_models_api_requests_total{status=~"4..|5.."}[5m]))',
                    legend="{{route}} {{status}}",
                    unit="reqps",
                ),
                PanelSpec(
                    "Latency p99 by route",
                    "histogram_quantile(0.99, sum by (le, route)"
                    " (rate(jan_models_api_request_duration_seconds_bucket[5m])))",
                    legend="{{route}}",
                    unit="s",
                ),
            ),
        ),
        (
            "Outbox",
            (
                PanelSpec("Outbox pending", "jan_models_api_outbox_pending", "stat"),
                PanelSpec(
                    "Outbox oldest", "jan_models_api_outbox_oldest_seconds", "stat", unit="s"
                ),
                PanelSpec(
                    "Commands published by verb",
                    "sum by (verb) (rate(jan_models_api_commands_published_total[5m]))",
                    legend="{{verb}}",
                    unit="ops",
                ),
            ),
        ),
        (
            "Deployer",
            (
                PanelSpec("Command backlog", "jan_models_deployer_command_backlog", "stat"),
                PanelSpec(
                    "Commands by verb and outcome",
                    "sum by (verb, outcome) (rate(jan_models_deployer_commands_total[5m]))",
                    legend="{{verb}} {{outcome}}",
                    unit="ops",
                ),
                PanelSpec(
                    "Apply latency p95 by verb",
                    "histogram_quantile(0.95, sum by (le, verb)"
                    " (rate(jan_models_deployer_apply_seconds_bucket[5m])))",
                    legend="{{verb}}",
                    unit="s",
                ),
            ),
        ),
        (
            "Inventory",
            (
                PanelSpec(
                    "Watches synced",
                    "jan_models_inventory_watch_synced",
                    "table",
                    legend="{{kind}}",
                ),
                PanelSpec(
                    "Watch lag p99 by kind",
                    "histogram_quantile(0.99, sum by (le, kind)"
                    " (rate(jan_models_inventory_watch_lag_seconds_bucket[5m])))",
                    legend="{{kind}}",
                    unit="s",
                ),
                PanelSpec(
                    "Watch restarts (1h)",
                    "sum by (kind, reason) (increase(jan_models_inventory_watch_restarts_total[1h]))",
                    legend="{{kind}} {{reason}}",
                ),
                PanelSpec(
                    "Projection write lag p99",
                    "histogram_quantile(0.99, sum by (le)"
                    " (rate(jan_models_inventory_projection_lag_seconds_bucket[5m])))",
                    unit="s",
                ),
                PanelSpec(
                    "CRDs present", "jan_models_inventory_crd_present", "table", legend="{{crd}}"
                ),
            ),
        ),
    ),
)

DASHBOARDS: Final = (GPU_CLUSTER, MODELS, CONTROL_PLANE)
GRID: Final = 24
WIDTH: Final = {"stat": 6, "timeseries": 12, "table": 8, "heatmap": 12}
HEIGHT: Final = {"stat": 4, "timeseries": 8, "table": 8, "heatmap": 8}


def _query(panel: PanelSpec) -> prometheus.Dataquery:
    query = (
        prometheus.Dataquery()
        .ref_id("A")
        .datasource(DATASOURCE)
        .expr(panel.expr)
        .legend_format(panel.legend or "__auto")
    )
    return query.instant() if panel.visual in ("stat", "table") else query.range()


class _PanelBuilder(Protocol):
    """What the four panel builders of the SDK have in common, as used here."""

    def id(self, id_val: int) -> Self: ...
    def title(self, title: str) -> Self: ...
    def description(self, description: str) -> Self: ...
    def datasource(self, datasource: DataSourceRef) -> Self: ...
    def with_target(self, target: Builder[Dataquery]) -> Self: ...
    def unit(self, unit: str) -> Self: ...
    def grid_pos(self, grid_pos: GridPos) -> Self: ...
    def build(self) -> Panel: ...


BUILDERS: Final[dict[Visual, Callable[[], _PanelBuilder]]] = {
    "stat": stat.Panel,
    "timeseries": timeseries.Panel,
    "table": table.Panel,
    "heatmap": heatmap.Panel,
}


def _panel(panel: PanelSpec, panel_id: int, position: GridPos) -> Builder[Panel]:
    built = (
        BUILDERS[panel.visual]()
        .id(panel_id)
        .title(panel.title)
        .datasource(DATASOURCE)
        .with_target(_query(panel))
        .unit(panel.unit)
        .grid_pos(position)
    )
    if panel.description:
        built = built.description(panel.description)
    return cast(Builder[Panel], built)


def build(spec: DashboardSpec) -> Dashboard:
    dashboard = (
        Dashboard(spec.title)
        .uid(spec.uid)
        .description(spec.description)
        .tags(["jan-models", "generated"])
        .refresh("30s")
        .time("now-6h", "now")
        .with_variable(DatasourceVariable("datasource").label("Prometheus").type("prometheus"))
    )
    panel_id = y = 0
    for title, panels in spec.rows:
        panel_id += 1
        dashboard = dashboard.with_row(Row(title).id(panel_id).grid_pos(GridPos(1, GRID, 0, y)))
        y, x, line = y + 1, 0, 0
        for panel in panels:
            width, height = WIDTH[panel.visual], HEIGHT[panel.visual]
            if x + width > GRID:  # wrap to the next line of the row
                y, x, line = y + line, 0, 0
            panel_id += 1
            dashboard = dashboard.with_panel(_panel(panel, panel_id, GridPos(height, width, x, y)))
            x, line = x + width, max(line, height)
        y += line
    return dashboard


def render(spec: DashboardSpec) -> str:
    return json.dumps(build(spec).build(), cls=JSONEncoder, indent=2, sort_keys=True) + "\n"


def dashboard_files() -> dict[str, str]:
    return {f"deploy/grafana/{spec.uid}.json": render(spec) for spec in DASHBOARDS}
