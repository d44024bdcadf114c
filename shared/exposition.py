"""A Prometheus collector that reads, at scrape time, the in-memory views it follows."""

from typing import Generic, TypeVar

from prometheus_client.registry import Collector

V = TypeVar("V")


class ViewCollector(Collector, Generic[V]):
    """Follows one view per running service (tests may run several in one process; each
    then contributes its own samples). Subclasses implement `collect`."""

    def __init__(self) -> None:
        self.views: list[V] = []

    def follow(self, view: V) -> None:
        self.views.append(view)

    def forget(self, view: V) -> None:
        self.views = [held for held in self.views if held is not view]
