"""The deployer's raw HTTP transport: credentials and TLS come from kubernetes-asyncio's Configuration."""

import ssl
from pathlib import Path

import orjson
import pytest
from kubernetes_asyncio.client import Configuration

from kubesim import KubeSim
from services.deployer.adapters.transport import KubeTransport, ssl_context
from shared.kubernetes import load_api_client

pytestmark = pytest.mark.integration


async def test_each_request_carries_the_token_the_refresh_hook_leaves(kubesim: KubeSim) -> None:
    """An in-cluster token is re-read by a hook; the transport must ask for it every time."""
    tokens = iter(["Bearer first-token", "Bearer second-token"])
    configuration = Configuration(host=kubesim.url)
    configuration.api_key["BearerToken"] = "Bearer stale"

    def refresh(config: Configuration) -> None:
        config.api_key["BearerToken"] = next(tokens)

    configuration.refresh_api_key_hook = refresh
    transport = KubeTransport(configuration, timeout=5)
    try:
        for _ in range(2):
            answer = await transport.request("GET", "/api/v1/namespaces/default")
            assert answer.status == 200
            assert orjson.loads(answer.body)["metadata"]["name"] == "default"
    finally:
        await transport.close()
    users = {record.user for record in kubesim.api.audit.records}
    assert {"first-token", "second-token"} <= users
    assert "stale" not in users


async def test_a_kubeconfig_client_sends_bodies_and_reads_errors(
    kubesim: KubeSim, kubeconfig_path: Path
) -> None:
    api = await load_api_client(kubeconfig_path)
    transport = KubeTransport(api.configuration, timeout=5)
    try:
        body = orjson.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}})
        created = await transport.request(
            "POST", "/api/v1/namespaces/default/configmaps", body=body
        )
        assert created.status == 201
        missing = await transport.request(
            "GET", "/api/v1/namespaces/default/configmaps/absent", query="labelSelector=a%3Db"
        )
        assert missing.status == 404
        assert orjson.loads(missing.body)["reason"] == "NotFound"
    finally:
        await transport.close()
        await api.close()


def test_tls_settings_follow_the_configuration(tmp_path: Path) -> None:
    configuration = Configuration(host="https://cluster.example:6443")
    configuration.verify_ssl = False
    context = ssl_context(configuration)
    assert context.verify_mode is ssl.CERT_NONE
    assert not context.check_hostname
    configuration.verify_ssl = True
    assert ssl_context(configuration).verify_mode is ssl.CERT_REQUIRED
