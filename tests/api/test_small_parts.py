"""Identifiers, keys, the token bucket, timestamps and the event stream's Last-Event-ID."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.api.identifiers import PUBLIC_ID, new_public_id, parse_model_id
from services.api.keys import generate_key, hash_key, hashes_match
from services.api.ratelimit import TokenBuckets
from services.api.views import timestamp
from services.api.web.event_stream import _sequence
from shared.errors import InvalidRequestError


def test_public_ids_have_the_designed_shape_and_differ() -> None:
    ids = {new_public_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(PUBLIC_ID.match(value) for value in ids)


def test_model_id_accepts_public_and_integer_ids_only() -> None:
    assert parse_model_id("mdl_abc123def456") == "mdl_abc123def456"
    assert parse_model_id("42") == 42
    for bad in ("0", "-1", "mdl_ABC123DEF456", "mdl_abc", "4.2", "x", "9" * 30, "١٢"):
        assert parse_model_id(bad) is None


def test_keys_are_long_random_and_stored_as_sha256() -> None:
    new = generate_key()
    assert new.key.startswith("jm_")
    assert len(new.key) == 43
    assert new.key_hash == hash_key(new.key)
    assert len(new.key_hash) == 64
    assert new.key not in new.key_hash
    assert new.prefix == new.key[:11]
    assert hashes_match(hash_key(new.key), new.key_hash)
    assert not hashes_match(hash_key(new.key + "x"), new.key_hash)


def test_token_bucket_allows_the_burst_then_asks_to_wait() -> None:
    now = [0.0]
    buckets = TokenBuckets(rate=2, burst=3, clock=lambda: now[0])
    assert [buckets.take("k") for _ in range(3)] == [0, 0, 0]
    assert buckets.take("k") == 1
    assert buckets.take("other") == 0
    now[0] += 0.5
    assert buckets.take("k") == 0
    assert buckets.take("k") >= 1


def test_timestamps_use_the_seed_form_in_utc() -> None:
    moment = datetime(2025, 1, 1, 12, 0, 0, 123000, tzinfo=timezone(timedelta(hours=2)))
    assert timestamp(moment) == "2025-01-01T10:00:00Z"
    assert timestamp(datetime(2025, 1, 1, 10, tzinfo=UTC)) == "2025-01-01T10:00:00Z"
    assert timestamp(None) is None


def test_last_event_id_is_a_stream_sequence_below_2_to_the_64() -> None:
    assert [_sequence(None), _sequence("0"), _sequence(" 7 "), _sequence(str(2**64 - 2))] == [
        None,
        0,
        7,
        2**64 - 2,
    ]
    for bad in ("x1", "-1", "1.5", "²", "١٢", str(2**64 - 1), "9" * 20, "9" * 21):
        with pytest.raises(InvalidRequestError, match=r"^Last-Event-ID: must be a stream sequence"):
            _sequence(bad)
