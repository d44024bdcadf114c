"""The list endpoints' filters and pages, parsed from query values, as pure data.

`GET /models` filters the registry by `status` (lower case), `model_type`, `tag` (each
one repeated must be present), `is_public` and `q` (a substring of the name or the
display name, in any case); `GET /models/all` filters the cluster's list by `managed`,
`namespace`, `status` (the Kubernetes-style phase) and `organization=mine`. A value no
model could have is a 400 naming the parameter and what it accepts: a typo must not
read as "nothing matches". Every body carries `next_offset`, null on the last page.
"""

import re
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from services.api.history import LAST_SEQUENCE
from services.api.records import ModelRecord
from services.api.transitions import Status
from shared.errors import InvalidRequestError
from shared.records import Document

MAX_LIMIT: Final = 1000
DEFAULT_LIMIT: Final = 100
MAX_QUERY_LENGTH: Final = 256
#: every managed status, `updating` (a new generation rolling out) included
MODEL_STATUSES: Final = tuple(dict.fromkeys([*(s.value for s in Status), "updating"]))
PHASES: Final = ("Running", "Pending", "Failed", "Unknown")
ORGANIZATIONS: Final = ("mine",)
MODEL_TYPE_PATTERN: Final = r"^[a-z][a-z0-9_-]{0,63}$"
NAMESPACE_PATTERN: Final = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
_MODEL_TYPE: Final = re.compile(MODEL_TYPE_PATTERN)
_NAMESPACE: Final = re.compile(NAMESPACE_PATTERN)
_BOOLEANS: Final = {"true": True, "false": False}
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page:
    limit: int | None
    """None: every entry from `offset` on (only `/all` allows it)."""
    offset: int = 0

    def window(self, entries: list[T]) -> list[T]:
        end = None if self.limit is None else self.offset + self.limit
        return entries[self.offset : end]

    def next_offset(self, *, shown: int, total: int) -> int | None:
        """Where the next page starts; None when this one reaches the end."""
        following = self.offset + shown
        return following if shown and following < total else None


@dataclass(frozen=True, slots=True)
class ModelPage:
    """A page of `GET /models`: the models shown (their list fields), how many match in
    all, and where the next page starts (None on the last)."""

    models: list[ModelRecord]
    total: int
    next_offset: int | None


@dataclass(frozen=True, slots=True)
class ModelFilter:
    status: str | None = None
    model_type: str | None = None
    tags: tuple[str, ...] = ()
    is_public: bool | None = None
    q: str | None = None
    """Lower case already."""

    @property
    def empty(self) -> bool:
        return self == NO_FILTER

    def matches(self, model: ModelRecord) -> bool:
        if self.status is not None and model.status != self.status:
            return False
        if self.model_type is not None and model.model_type != self.model_type:
            return False
        if self.is_public is not None and bool(model.is_public) != self.is_public:
            return False
        if self.tags and not set(self.tags).issubset(model.tags or ()):
            return False
        if self.q is not None:
            display_name = model.display_name or ""
            return self.q in model.name.lower() or self.q in display_name.lower()
        return True

    def mongo_query(self, organization_id: int) -> Document:
        """The same filter as a MongoDB query (a case-insensitive regex for `q`)."""
        query: Document = {"organization_id": organization_id}
        if self.status is not None:
            query["status"] = self.status
        if self.model_type is not None:
            query["model_type"] = self.model_type
        if self.is_public is not None:
            query["is_public"] = self.is_public
        if self.tags:
            query["tags"] = {"$all": list(self.tags)}
        if self.q is not None:
            pattern = {"$regex": re.escape(self.q), "$options": "i"}
            query["$or"] = [{"name": pattern}, {"display_name": pattern}]
        return query


NO_FILTER: Final = ModelFilter()


@dataclass(frozen=True, slots=True)
class WorkloadFilter:
    managed: bool | None = None
    namespace: str | None = None
    status: str | None = None
    mine: bool = False

    def matches(self, entry: dict[str, Any]) -> bool:
        """On an `/all` entry as rendered (`is_own` marks the caller's own models)."""
        return (
            (self.managed is None or entry["is_managed"] is self.managed)
            and (self.namespace is None or entry["namespace"] == self.namespace)
            and (self.status is None or entry["status"] == self.status)
            and (not self.mine or entry.get("is_own") is True)
        )


def _one_of(name: str, value: str | None, allowed: tuple[str, ...]) -> str | None:
    if value is None:
        return None
    if value not in allowed:
        raise InvalidRequestError(
            f"{name}: {value!r} is not one of {', '.join(repr(a) for a in allowed)}"
        )
    return value


def _boolean(name: str, value: str | None) -> bool | None:
    if value is None:
        return None
    if value not in _BOOLEANS:
        raise InvalidRequestError(f"{name}: {value!r} is not 'true' or 'false'")
    return _BOOLEANS[value]


def _matching(name: str, value: str | None, pattern: re.Pattern[str], what: str) -> str | None:
    if value is not None and not pattern.fullmatch(value):
        raise InvalidRequestError(f"{name}: {value!r} is not {what}")
    return value


def model_filter(
    *,
    status: str | None = None,
    model_type: str | None = None,
    tags: list[str] | None = None,
    is_public: str | None = None,
    q: str | None = None,
) -> ModelFilter:
    for tag in tags or ():
        if not 1 <= len(tag) <= 64:
            raise InvalidRequestError(f"tag: {tag!r} is not a tag (1 to 64 characters)")
    if q is not None and len(q) > MAX_QUERY_LENGTH:
        raise InvalidRequestError(f"q: longer than {MAX_QUERY_LENGTH} characters")
    return ModelFilter(
        status=_one_of("status", status, MODEL_STATUSES),
        model_type=_matching(
            "model_type", model_type, _MODEL_TYPE, "a model type (e.g. 'completion')"
        ),
        tags=tuple(dict.fromkeys(tags or ())),
        is_public=_boolean("is_public", is_public),
        q=q.lower() if q else None,
    )


def workload_filter(
    *,
    managed: str | None = None,
    namespace: str | None = None,
    status: str | None = None,
    organization: str | None = None,
) -> WorkloadFilter:
    return WorkloadFilter(
        managed=_boolean("managed", managed),
        namespace=_matching("namespace", namespace, _NAMESPACE, "a namespace name"),
        status=_one_of("status", status, PHASES),
        mine=_one_of("organization", organization, ORGANIZATIONS) is not None,
    )


def page(*, limit: int | None, offset: int, required: bool = True) -> Page:
    """`limit` within 0..1000 (the default 100 unless `required` is False, where no limit
    means everything) and a non-negative `offset`."""
    if limit is None and required:
        limit = DEFAULT_LIMIT
    if limit is not None and not 0 <= limit <= MAX_LIMIT:
        raise InvalidRequestError(f"limit: must be between 0 and {MAX_LIMIT}, got {limit}")
    if offset < 0:
        raise InvalidRequestError(f"offset: must not be negative, got {offset}")
    return Page(limit=limit, offset=offset)


def history_page(*, limit: int, after: int | None) -> tuple[int, int | None]:
    """`/events` paging: 1..1000 events after stream sequence `after` (none: the first)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidRequestError(f"limit: must be between 1 and {MAX_LIMIT}, got {limit}")
    if after is not None and after < 0:
        raise InvalidRequestError(f"after: must not be negative, got {after}")
    if after is not None and after >= LAST_SEQUENCE:
        raise InvalidRequestError(f"after: must be below {LAST_SEQUENCE}, got {after}")
    return limit, after
