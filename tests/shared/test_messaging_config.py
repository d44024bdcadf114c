"""The NATS URL setting and the stream configuration a service declares (pure parts; the
cluster itself is exercised in tests/faults/test_nats_cluster.py)."""

import pytest
from pydantic import ValidationError

from shared import messaging
from shared.settings import BaseServiceSettings


def test_a_cluster_url_names_each_server_and_a_single_url_one() -> None:
    assert messaging.server_urls("nats://a:4222, nats://b:4222,nats://c:4222") == [
        "nats://a:4222",
        "nats://b:4222",
        "nats://c:4222",
    ]
    assert messaging.server_urls("nats://127.0.0.1:4222") == ["nats://127.0.0.1:4222"]
    with pytest.raises(ValueError, match="names no server"):
        messaging.server_urls(" , ")


def test_both_streams_carry_the_replica_count_asked() -> None:
    assert {c.num_replicas for c in messaging.stream_configs()} == {1}
    assert {c.num_replicas for c in messaging.stream_configs(3)} == {3}


def test_the_replica_setting_is_read_and_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JAN_MODELS_STREAM_REPLICAS", "3")
    assert BaseServiceSettings().stream_replicas == 3
    monkeypatch.setenv("JAN_MODELS_STREAM_REPLICAS", "0")
    with pytest.raises(ValidationError):
        BaseServiceSettings()
