"""Bad input and attackers against the running stack: clear 4xx, nothing stored, no one in.

The module's stack runs the api with a low create rate, so the rate limit is reachable
with a handful of requests; every test uses keys (and so buckets) of its own.
"""

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from jan_models.stack import LocalStack
from services.api.adapters.api_keys import ApiKeys
from shared import database
from shared.names import COMMANDS_STREAM, DEFAULT_DATABASE, EVENTS_STREAM
from tests.faults.conftest import (
    HF_TOKEN,
    MODELS,
    Cluster,
    client_for,
    create_all,
    eventually,
    light_body,
    new_key,
    start_stack,
    statuses,
    stream_messages,
)

pytestmark = [pytest.mark.faults, pytest.mark.timeout(180)]

CREATE_BURST = 30
ENDPOINTS = [
    ("GET", f"{MODELS}/status"),
    ("GET", f"{MODELS}/all"),
    ("GET", MODELS),
    ("POST", MODELS),
    ("GET", f"{MODELS}/1"),
    ("DELETE", f"{MODELS}/1"),
    ("GET", f"{MODELS}/events/stream"),
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    yield from start_stack(
        tmp_path_factory,
        {
            "JAN_MODELS_API_CREATE_RATE": "0.2",
            "JAN_MODELS_API_CREATE_BURST": str(CREATE_BURST),
        },
    )


def assert_error(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert body.keys() == {"error"}
    assert isinstance(body["error"], str)
    assert body["error"]


# --- bad input -------------------------------------------------------------------------


# schemathesis with every check over every phase: tests/faults/test_contract.py


async def test_malformed_bodies_get_a_clear_4xx_and_store_nothing(stack: LocalStack) -> None:
    async with client_for(stack, await new_key(stack, 7002)) as api:
        json_headers = {"Content-Type": "application/json"}
        oversized = b'{"name": "' + b"x" * 400_000 + b'"}'
        assert_error(await api.post(MODELS, content=oversized, headers=json_headers), 413)

        async def chunks() -> Any:
            for _ in range(50):
                yield b" " * 10_000  # no Content-Length: the limit holds while reading

        assert_error(await api.post(MODELS, content=chunks(), headers=json_headers), 413)
        nested = b"[" * 50_000 + b"]" * 50_000
        assert_error(await api.post(MODELS, content=nested, headers=json_headers), 400)
        deep_object = b'{"name": ' + b'{"a": ' * 5_000 + b"1" + b"}" * 5_001
        assert_error(await api.post(MODELS, content=deep_object, headers=json_headers), 400)
        not_utf8 = b'{"name": "\xff\xfe\xfa"}'
        assert_error(await api.post(MODELS, content=not_utf8, headers=json_headers), 400)
        assert_error(await api.post(MODELS, content=b"{", headers=json_headers), 400)
        for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/x"):
            response = await api.post(
                MODELS, content=b'{"name": "x"}', headers={"Content-Type": content_type}
            )
            assert_error(response, 415)
        for limit in ("10000000000000000000000000000", "-1", "abc", "1e3"):
            assert_error(await api.get(MODELS, params={"limit": limit}), 400)
        assert_error(await api.get(MODELS, params={"offset": "-5"}), 400)
        assert await statuses(api) == {}


@pytest.mark.parametrize(
    "name",
    ["../x", "a/b", "x,y=z", "x=y", "Upper", "a" * 64, "ünïcode", "-x", "x-", "", "a b", "a\nb"],
)
async def test_names_that_try_path_or_label_injection_are_refused(
    stack: LocalStack, name: str
) -> None:
    async with client_for(stack, await new_key(stack, 7003)) as api:
        response = await api.post(MODELS, json=light_body(name))
        assert_error(response, 400)
        assert response.json()["error"].startswith("name:")
        assert await statuses(api) == {}


async def test_model_ids_that_try_path_injection_are_not_found(stack: LocalStack) -> None:
    async with client_for(stack, await new_key(stack, 7004)) as api:
        for raw in ("..%2F..%2Fx", "%2e%2e", "mdl_%00", "1%20OR%201", "9" * 40, "-1", "mdl_"):
            assert_error(await api.get(f"{MODELS}/{raw}"), 404)
            assert_error(await api.delete(f"{MODELS}/{raw}"), 404)


# --- attackers -------------------------------------------------------------------------


async def test_no_key_a_wrong_key_and_a_revoked_key_get_401_everywhere(
    stack: LocalStack,
) -> None:
    real = await new_key(stack, 7005)
    wrong = real[:-4] + ("AAAA" if not real.endswith("AAAA") else "BBBB")
    client = database.connect(stack.mongodb_url, app_name="faults")
    try:
        keys = ApiKeys(client[DEFAULT_DATABASE])
        revoked = await keys.create(organization_id=7005, name="to-revoke", now=datetime.now(UTC))
        async with client_for(stack, revoked.key) as api:
            assert (await api.get(MODELS)).status_code == 200
            await keys.revoke(revoked.prefix, now=datetime.now(UTC))

            async def refused() -> bool:
                return (await api.get(MODELS)).status_code == 401

            await eventually(refused, within=10)  # the api trusts a verified key for 2 s
    finally:
        await client.close()
    for key, scheme in ((None, None), (wrong, "Bearer"), (revoked.key, "Bearer"), (real, "Basic")):
        headers = {} if key is None else {"Authorization": f"{scheme} {key}"}
        async with httpx.AsyncClient(base_url=stack.api_url, headers=headers) as anonymous:
            for method, path in ENDPOINTS:
                body = light_body("x") if method == "POST" else None
                assert_error(await anonymous.request(method, path, json=body), 401)


async def test_unknown_and_wrong_keys_take_the_same_path_and_compare_hashes_in_constant_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Timing on a shared 2-core machine is noise; the code path is what can be pinned:
    every key is looked up by its SHA-256 (so the store never compares secret bytes), and
    a found hash is compared with `hmac.compare_digest`."""
    queries: list[dict[str, Any]] = []
    compared: list[tuple[bytes, bytes]] = []
    stored_key = "jm_" + secrets.token_urlsafe(30)
    stored_hash = hashlib.sha256(stored_key.encode()).hexdigest()

    class Collection:
        async def find_one(self, query: dict[str, Any], projection: object) -> object:
            queries.append(query)
            if query["key_hash"] != stored_hash:
                return None
            return {"key_hash": stored_hash, "key_id": "jm_x", "organization_id": 1}

    compare_digest = hmac.compare_digest

    def recording_compare(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return compare_digest(a, b)

    monkeypatch.setattr(hmac, "compare_digest", recording_compare)
    keys = ApiKeys({"api_keys": Collection()})  # type: ignore[arg-type]  # a fake database

    assert await keys.authenticate("jm_unknown_" + secrets.token_urlsafe(20)) is None
    assert await keys.authenticate(stored_key[:-3] + "xyz") is None
    assert [set(q) for q in queries] == [{"key_hash", "revoked_at"}] * 2
    assert all(len(q["key_hash"]) == 64 and "jm_" not in q["key_hash"] for q in queries)
    assert compared == []
    assert await keys.authenticate(stored_key) is not None
    assert compared == [(stored_hash.encode(), stored_hash.encode())]


async def test_organization_b_can_neither_read_list_nor_delete_organization_a_models(
    stack: LocalStack,
) -> None:
    async with (
        client_for(stack, await new_key(stack, 7006)) as a,
        client_for(stack, await new_key(stack, 7007)) as b,
    ):
        [public_id] = await create_all(a, ["org-a-secret"])
        internal_id = (await a.get(f"{MODELS}/{public_id}")).json()["model"]["id"]
        for model_id in (public_id, str(internal_id)):
            assert_error(await b.get(f"{MODELS}/{model_id}"), 404)
            assert_error(await b.delete(f"{MODELS}/{model_id}"), 404)
        assert await statuses(b) == {}

        async def listed_in_all() -> bool:
            return any(
                m["name"] == "org-a-secret" for m in (await b.get(f"{MODELS}/all")).json()["models"]
            )

        await eventually(listed_in_all, within=30)
        [entry] = [
            m
            for m in (await b.get(f"{MODELS}/all")).json()["models"]
            if m["name"] == "org-a-secret"
        ]
        assert entry["is_own"] is False
        assert not {"display_name", "description", "public_id", "model_type"} & set(entry)
        assert (await a.get(f"{MODELS}/{public_id}")).json()["model"]["status"] != "deleting"


async def test_creates_beyond_the_rate_get_429_with_retry_after(stack: LocalStack) -> None:
    async with client_for(stack, await new_key(stack, 7008)) as api:
        wrong_name = light_body("rate-limited") | {"name": "other-name"}  # refused after the bucket
        answers = [await api.post(MODELS, json=wrong_name) for _ in range(CREATE_BURST + 3)]
        limited = [r for r in answers if r.status_code == 429]
        assert limited, [r.status_code for r in answers]
        for response in limited:
            assert_error(response, 429)
            assert int(response.headers["Retry-After"]) >= 1
        async with client_for(stack, await new_key(stack, 7008)) as other_key:
            assert (await other_key.post(MODELS, json=wrong_name)).status_code == 400
        assert await statuses(api) == {}


# --- the Hugging Face token ------------------------------------------------------------


ENV_PASSWORD = "pw_faults" + secrets.token_hex(16)


def token_in_extra_env(name: str) -> dict[str, Any]:
    """The token passed as an environment variable, with a password beside it."""
    body = light_body(name)
    config = body["deployment_config"]
    del config["hugging_face_token"]
    config["extra_env"] = [
        {"name": "HF_TOKEN", "value": HF_TOKEN},
        {"name": "DB_PASSWORD", "value": ENV_PASSWORD},
        {"name": "LOG_LEVEL", "value": "info"},
    ]
    return body


@pytest.mark.parametrize(
    ("name", "body", "needles"),
    [
        ("token-holder", light_body, [HF_TOKEN]),
        ("env-token-holder", token_in_extra_env, [HF_TOKEN, ENV_PASSWORD]),
    ],
    ids=["hugging_face_token", "extra_env"],
)
async def test_the_hugging_face_token_is_nowhere_in_clear(
    stack: LocalStack,
    cluster: Cluster,
    name: str,
    body: Any,
    needles: list[str],
) -> None:
    async with client_for(stack, await new_key(stack, 7009)) as api:
        created = await api.post(MODELS, json=body(name))
        assert created.status_code == 201, created.text
        public_id = created.json()["model"]["public_id"]

        async def running() -> bool:
            return (await statuses(api)).get(public_id) == "running"

        await eventually(running, within=60)
        responses = [
            created,
            await api.get(MODELS),
            await api.get(f"{MODELS}/{public_id}"),
            await api.get(f"{MODELS}/all"),
            await api.post(MODELS, json=body(name)),  # 409 echoes nothing
        ]
    # the details say what is held in place of the secrets, by name only
    given = body(name)["deployment_config"]
    shown = responses[2].json()["model"]["deployment_config"]
    plain = [e for e in given.get("extra_env", []) if e["name"] == "LOG_LEVEL"]
    assert shown["extra_env"] == plain
    assert shown["secret_env_names"] == sorted(
        e["name"] for e in given.get("extra_env", []) if e not in plain
    )
    assert shown["has_hugging_face_token"] is ("hugging_face_token" in given)
    events = await stream_messages(stack.nats_url, EVENTS_STREAM)
    assert events
    commands = await stream_messages(stack.nats_url, COMMANDS_STREAM)
    client = database.connect(stack.mongodb_url, app_name="faults")
    try:
        documents = [
            (f"{db_name}.{collection}", repr(document))
            for db_name in await client.list_database_names()
            for collection in await client[db_name].list_collection_names()
            async for document in client[db_name][collection].find()
        ]
    finally:
        await client.close()
    logs = stack.config.data_dir / "logs"
    for needle in needles:
        raw = needle.encode()
        assert [r.request.url for r in responses if raw in r.content] == []
        assert [s for s, data in events if raw in data] == []
        assert [s for s, data in commands if raw in data] == []
        assert [where for where, text in documents if needle in text] == []
        assert sorted(p.name for p in logs.iterdir() if raw in p.read_bytes()) == []
    # the one place they belong: the model's Secret in the cluster, read by secretKeyRef
    secret = await cluster.http.get(f"/api/v1/namespaces/jan-models/secrets/{name}-hf-token")
    assert secret.status_code == 200
    data = secret.json().get("data", {}) | secret.json().get("stringData", {})
    assert set(needles) <= {base64.b64decode(v).decode() for v in data.values()}
    deployment = await cluster.http.get(f"/apis/apps/v1/namespaces/jan-models/deployments/{name}")
    env = {
        e["name"]: e for e in deployment.json()["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["HF_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == f"{name}-hf-token"
    for needle in needles:
        assert needle not in deployment.text
