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
