"""Metrics read at scrape time from the in-memory views a service follows."""

from typing import Generic, TypeVar

V = TypeVar("V")


class Followed(Generic[V]):
    """The views to read: one per running service (tests may run several in one process;
    each then contributes its own samples)."""

    def __init__(self) -> None:
        self.views: list[V] = []

    def follow(self, view: V) -> None:
        self.views.append(view)

    def forget(self, view: V) -> None:
        self.views = [held for held in self.views if held is not view]
