"""Decoding request bodies: JSON with orjson, YAML with libyaml when it is there.

Clients send server-side apply bodies as `application/apply-patch+yaml`, but nearly all
of them (kubernetes-asyncio, client-go, the deployer) put JSON in it, and JSON is YAML.
Pure-Python PyYAML took two thirds of kubesim's CPU under the deployer benchmark, so a
body that looks like a JSON object is read with orjson; anything else (or JSON that
orjson refuses) goes to the YAML parser, libyaml's when PyYAML was built with it.
"""

from __future__ import annotations

from typing import Any

import orjson
import yaml

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

YAMLError = yaml.YAMLError


def load_yaml(raw: bytes) -> Any:
    """Parse a YAML (or JSON) document; raises `yaml.YAMLError` when it is neither."""
    if raw.lstrip()[:1] == b"{":
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass  # YAML flow mappings start with "{" too
    return yaml.load(raw, Loader=_Loader)  # noqa: S506  # a safe loader


# -- protobuf DeleteOptions -----------------------------------------------------------
# client-go's typed clients (kubectl drain among them) send DeleteOptions as protobuf:
# the `k8s\0` magic, then a runtime.Unknown whose `raw` (field 2) is the message.

PROTOBUF_MAGIC = b"k8s\x00"


def _fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """(field number, value) pairs of one protobuf message: varints and byte strings."""
    out: list[tuple[int, int | bytes]] = []
    i = 0

    def varint() -> int:
        nonlocal i
        shift = value = 0
        while True:
            byte = data[i]
            i += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return value

    while i < len(data):
        key = varint()
        number, wire = key >> 3, key & 7
        if wire == 0:
            out.append((number, varint()))
        elif wire == 2:
            size = varint()
            out.append((number, data[i : i + size]))
            i += size
        elif wire in (1, 5):
            i += 8 if wire == 1 else 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
    return out


def delete_options_from_protobuf(raw: bytes) -> dict[str, Any]:
    """A protobuf-encoded meta/v1 DeleteOptions as its JSON form."""
    if not raw.startswith(PROTOBUF_MAGIC):
        raise ValueError("not a Kubernetes protobuf body")
    unknown = dict(_fields(raw[len(PROTOBUF_MAGIC) :]))
    message = unknown.get(2, b"")
    options: dict[str, Any] = {}
    for number, value in _fields(message if isinstance(message, bytes) else b""):
        if number == 1 and isinstance(value, int):
            options["gracePeriodSeconds"] = value - (1 << 64) if value >= 1 << 63 else value
        elif number == 2 and isinstance(value, bytes):
            names = {1: "uid", 2: "resourceVersion"}
            options["preconditions"] = {
                names[n]: v.decode()
                for n, v in _fields(value)
                if n in names and isinstance(v, bytes)
            }
        elif number == 3 and isinstance(value, int):
            options["orphanDependents"] = bool(value)
        elif number == 4 and isinstance(value, bytes):
            options["propagationPolicy"] = value.decode()
        elif number == 5 and isinstance(value, bytes):
            options.setdefault("dryRun", []).append(value.decode())
    return options
