"""The api's scrape-time gauges: models by organization and status, and the outbox."""

from datetime import UTC, datetime, timedelta
from typing import Any, cast

from bson import ObjectId
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from services.api.adapters.admissions import QuotaLimits
from services.api.adapters.registry_cache import RegistryCache
from services.api.exposition import Metered, RegistryCollector
from shared.records import Document

FAMILIES = (
    "jan_models_models",
    "jan_models_quota_gpus",
    "jan_models_api_outbox_pending",
    "jan_models_api_outbox_oldest_seconds",
)


def document(model_id: int, *, org: int, status: str, issued: datetime | None = None) -> Document:
    doc: Document = {
        "_id": ObjectId(),
        "id": model_id,
        "public_id": f"mdl_{model_id:012d}",
        "organization_id": org,
        "name": f"m{model_id}",
        "namespace": "jan-models",
        "status": status,
    }
    if issued is not None:
        doc["outbox"] = {"msg_id": "m", "command": {"issued_at": issued.isoformat()}}
    return doc


def metered(cache: RegistryCache, limits: dict[int, int] | None = None) -> Metered:
    quota_limits = QuotaLimits(cast(Any, {"organization_quotas": None}))
    quota_limits.limits = limits or {}
    return cache, quota_limits


def scrape(collector: RegistryCollector) -> tuple[dict[str, dict[Any, float]], str]:
    registry = CollectorRegistry()
    registry.register(collector)
    text = generate_latest(registry).decode()
    return {
        family.name: {tuple(sorted(s.labels.items())): s.value for s in family.samples}
        for family in text_string_to_metric_families(text)
    }, text


def test_every_family_is_exported_before_any_view_follows() -> None:
    samples, text = scrape(RegistryCollector())
    for name in FAMILIES:
        assert f"# TYPE {name} gauge" in text
        assert samples.get(name, {}) == {}


def test_models_are_counted_by_organization_and_status() -> None:
    cache = RegistryCache(cast(Any, None))
    for model_id, org, status in [
        (1, 1, "running"),
        (2, 1, "running"),
        (3, 1, "failed"),
        (4, 2, "running"),
    ]:
        cache.put(document(model_id, org=org, status=status))
    collector = RegistryCollector()
    collector.follow(metered(cache))
    samples, _ = scrape(collector)
    assert samples["jan_models_models"] == {
        (("organization_id", "1"), ("status", "running")): 2,
        (("organization_id", "1"), ("status", "failed")): 1,
        (("organization_id", "2"), ("status", "running")): 1,
    }
    assert samples.get("jan_models_quota_gpus", {}) == {}


def test_the_outbox_counts_pending_commands_and_ages_the_oldest() -> None:
    cache = RegistryCache(cast(Any, None))
    now = datetime.now(UTC)
    old = document(1, org=1, status="creating", issued=now - timedelta(minutes=5))
    cache.put(old)
    cache.put(document(2, org=1, status="creating", issued=now - timedelta(seconds=1)))
    cache.put(document(3, org=1, status="running"))
    collector = RegistryCollector()
    followed = metered(cache)
    collector.follow(followed)
    samples, _ = scrape(collector)
    assert samples["jan_models_api_outbox_pending"] == {(): 2}
    assert 300 <= samples["jan_models_api_outbox_oldest_seconds"][()] < 360

    cache.put({key: value for key, value in old.items() if key != "outbox"})  # published
    cache.discard(ObjectId())  # an unknown document changes nothing
    samples, _ = scrape(collector)
    assert samples["jan_models_api_outbox_pending"] == {(): 1}
    assert samples["jan_models_api_outbox_oldest_seconds"][()] < 60

    collector.forget(followed)
    assert scrape(collector)[0].get("jan_models_api_outbox_pending", {}) == {}


def test_quota_limit_use_and_reservations_per_organization() -> None:
    cache = RegistryCache(cast(Any, None))
    now = datetime.now(UTC)
    reserved = {"reserved": True, "reservation": [{"node": "gpu-1", "gpus": 2}], "quota_gpus": 2}
    cache.put({**document(1, org=1, status="creating"), **reserved})
    released = {**reserved, "released_at": now - timedelta(seconds=1)}
    cache.put({**document(2, org=1, status="running"), **released})
    cache.put({**document(3, org=1, status="failed"), **reserved})  # a failed model holds none
    cache.put({**document(4, org=2, status="running"), "quota_gpus": 1})
    cache.put(document(5, org=3, status="running"))  # no GPU, no quota: no series
    collector = RegistryCollector()
    collector.follow(metered(cache, {1: 8, 4: 2}))

    samples, _ = scrape(collector)

    assert samples["jan_models_quota_gpus"] == {
        (("kind", "limit"), ("organization_id", "1")): 8,
        (("kind", "used"), ("organization_id", "1")): 6,
        (("kind", "reserved"), ("organization_id", "1")): 2,
        (("kind", "used"), ("organization_id", "2")): 1,
        (("kind", "reserved"), ("organization_id", "2")): 0,
        (("kind", "limit"), ("organization_id", "4")): 2,
        (("kind", "used"), ("organization_id", "4")): 0,
        (("kind", "reserved"), ("organization_id", "4")): 0,
    }
