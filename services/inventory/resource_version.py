"""Ordering of resourceVersions, so a stale watch event never overwrites a newer object.

Kubernetes calls resourceVersions opaque; every real apiserver (etcd revisions) and kubesim
make them decimal integers. Compare as integers when both parse; otherwise a later arrival
wins, which is what the watch order gives.
"""


def as_int(resource_version: str) -> int | None:
    return int(resource_version) if resource_version.isdigit() else None


def is_stale(new: str, current: str) -> bool:
    """Whether an object at `new` must not replace the one held at `current`."""
    new_int, current_int = as_int(new), as_int(current)
    if new_int is None or current_int is None:
        return False
    return new_int <= current_int
