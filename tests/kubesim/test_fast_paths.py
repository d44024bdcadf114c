"""The fast paths kubesim takes under load keep the apiserver's behaviour."""

from __future__ import annotations

import pytest
import yaml

from kubesim.decoding import load_yaml


@pytest.mark.parametrize(
    "raw",
    [
        b'{"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "1"}}',
        b'  {"apiVersion":"v1","kind":"ConfigMap","data":{"a":"1"}}\n',
        b"apiVersion: v1\nkind: ConfigMap\ndata:\n  a: '1'\n",
        b"{apiVersion: v1, kind: ConfigMap, data: {a: '1'}}",  # a YAML flow mapping, not JSON
    ],
)
def test_apply_bodies_decode_as_json_or_yaml(raw: bytes) -> None:
    assert load_yaml(raw) == {"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "1"}}


def test_a_body_that_is_neither_is_a_yaml_error() -> None:
    with pytest.raises(yaml.YAMLError):
        load_yaml(b"{a: [}")
