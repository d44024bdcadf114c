"""Kubernetes protobuf request bodies, decoded into the JSON objects they stand for.

kubectl's typed clients send built-in kinds as `application/vnd.kubernetes.protobuf`
(`kubectl create namespace|deployment|configmap|secret|serviceaccount|job|role ...`,
`auth can-i`, the DeleteOptions of `drain`). The body is the magic `k8s\\0` followed by a
`runtime.Unknown`: its `typeMeta` names the kind and its `raw` holds the kind's message.
The apiserver decodes that into the same Go struct a JSON body would fill; kubesim turns
it into the JSON object that struct would serialize to, with the field tables generated
from the published `generated.proto` files (`scripts/gen_kubesim_protobuf.py`).

As with the apiserver, custom resources have no protobuf form (a 415 there), and the
protobuf encoding of Go's zero values maps back as JSON's `omitempty` would leave them:
an empty string or an unset time is absent, numbers and booleans stay as sent.
"""

from __future__ import annotations

import base64
import functools
import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import orjson

Obj = dict[str, Any]

MAGIC: Final = b"k8s\x00"
MEDIA_TYPE: Final = "application/vnd.kubernetes.protobuf"
_TABLES: Final = Path(__file__).with_name("protobuf_messages.json")
_META: Final = "k8s.io.apimachinery.pkg.apis.meta.v1"
_UNKNOWN: Final = "k8s.io.apimachinery.pkg.runtime.Unknown"
#: Go's zero time.Time as Unix seconds (what a zero `metav1.Time` marshals to)
_GO_ZERO_SECONDS: Final = -62135596800
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
#: the proto package of each API group's types
_GROUP_PACKAGES: Final = {
    "": "k8s.io.api.core",
    "apps": "k8s.io.api.apps",
    "batch": "k8s.io.api.batch",
    "rbac.authorization.k8s.io": "k8s.io.api.rbac",
    "autoscaling": "k8s.io.api.autoscaling",
    "storage.k8s.io": "k8s.io.api.storage",
    "events.k8s.io": "k8s.io.api.events",
    "policy": "k8s.io.api.policy",
    "authorization.k8s.io": "k8s.io.api.authorization",
    "authentication.k8s.io": "k8s.io.api.authentication",
    "coordination.k8s.io": "k8s.io.api.coordination",
    "networking.k8s.io": "k8s.io.api.networking",
    "scheduling.k8s.io": "k8s.io.api.scheduling",
    "discovery.k8s.io": "k8s.io.api.discovery",
}
#: kinds that live in meta/v1 whatever group they are sent to
_META_KINDS: Final = frozenset({"DeleteOptions", "Status", "PartialObjectMetadata"})
_SIGNED = frozenset({"int32", "int64"})


class ProtobufError(ValueError):
    """The body is not a Kubernetes protobuf message kubesim can read."""


Field = tuple[str, str, Any, bool]  # JSON name, label (optional|repeated|map), type, inline


@functools.cache
def _messages() -> dict[str, dict[int, Field]]:
    document = orjson.loads(_TABLES.read_bytes())
    return {
        name: {
            number: (field, label, type_, bool(inline))
            for number, field, label, type_, *inline in fields
        }
        for name, fields in document["messages"].items()
    }


def _varint(data: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        if i >= len(data):
            raise ProtobufError("truncated varint")
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, i
        if shift > 70:
            raise ProtobufError("varint too long")


def _wire_fields(data: bytes) -> list[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) of one message; fixed-width values as bytes."""
    out: list[tuple[int, int, int | bytes]] = []
    i = 0
    while i < len(data):
        key, i = _varint(data, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(data, i)
            out.append((number, wire, value))
        elif wire == 2:
            size, i = _varint(data, i)
            if i + size > len(data):
                raise ProtobufError("truncated length-delimited field")
            out.append((number, wire, data[i : i + size]))
            i += size
        elif wire in (1, 5):
            width = 8 if wire == 1 else 4
            if i + width > len(data):
                raise ProtobufError("truncated fixed-width field")
            out.append((number, wire, data[i : i + width]))
            i += width
        else:
            raise ProtobufError(f"unsupported protobuf wire type {wire}")
    return out


def _scalar(type_: str, wire: int, value: int | bytes) -> Any:
    if type_ == "string":
        if not isinstance(value, bytes):
            raise ProtobufError("a string field is not length-delimited")
        return value.decode()
    if type_ == "bytes":
        if not isinstance(value, bytes):
            raise ProtobufError("a bytes field is not length-delimited")
        return base64.b64encode(value).decode()
    if type_ in ("double", "float"):
        if not isinstance(value, bytes):
            raise ProtobufError(f"a {type_} field is not fixed-width")
        return struct.unpack("<d" if len(value) == 8 else "<f", value)[0]
    if not isinstance(value, int):
        raise ProtobufError(f"a {type_} field is not a varint")
    if type_ == "bool":
        return bool(value)
    if type_ in _SIGNED and value >= 1 << 63:
        return value - (1 << 64)
    return value


def _packed(type_: str, data: bytes) -> list[Any]:
    """The values of a packed repeated scalar field."""
    values: list[Any] = []
    i = 0
    while i < len(data):
        if type_ in ("double", "float"):
            width = 8 if type_ == "double" else 4
            values.append(_scalar(type_, 1, data[i : i + width]))
            i += width
        else:
            raw, i = _varint(data, i)
            values.append(_scalar(type_, 0, raw))
    return values


def _time(message: Obj, *, micro: bool) -> str | None:
    seconds, nanos = message.get("seconds", 0), message.get("nanos", 0)
    if (seconds == 0 or seconds == _GO_ZERO_SECONDS) and nanos == 0:
        return None
    moment = _EPOCH + timedelta(seconds=seconds, microseconds=nanos // 1000)
    if micro:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _duration(nanoseconds: int) -> str:
    """Go's `time.Duration.String()`, as metav1.Duration marshals to JSON."""
    if nanoseconds == 0:
        return "0s"
    sign = "-" if nanoseconds < 0 else ""
    total = abs(nanoseconds)
    if total < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if total >= size:
                return f"{sign}{_trim(total / size)}{unit}"
    hours, rest = divmod(total, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    seconds = _trim(rest / 1_000_000_000)
    if hours:
        return f"{sign}{hours}h{minutes}m{seconds}s"
    if minutes:
        return f"{sign}{minutes}m{seconds}s"
    return f"{sign}{seconds}s"


def _trim(value: float) -> str:
    text = f"{value:.9f}".rstrip("0").rstrip(".")
    return text or "0"


def _special(type_: str, message: Obj) -> tuple[bool, Any]:
    """The JSON form of the types that do not marshal as objects."""
    short = type_.rsplit(".", 1)[-1]
    if type_ == f"{_META}.Time":
        return True, _time(message, micro=False)
    if type_ == f"{_META}.MicroTime":
        return True, _time(message, micro=True)
    if type_ == f"{_META}.Duration":
        return True, _duration(message.get("duration", 0))
    if type_ == "k8s.io.apimachinery.pkg.api.resource.Quantity":
        return True, message.get("string") or None
    if type_ == "k8s.io.apimachinery.pkg.util.intstr.IntOrString":
        if message.get("type", 0) == 0:
            return True, message.get("intVal", 0)
        return True, message.get("strVal", "")
    if type_ in ("k8s.io.apimachinery.pkg.runtime.RawExtension", f"{_META}.FieldsV1"):
        raw = message.get("raw", message.get("Raw"))
        return True, orjson.loads(base64.b64decode(raw)) if raw else None
    if short in ("Verbs", "ExtraValue"):
        return True, message.get("items", [])
    return False, None


def _decode(type_: str, data: bytes, depth: int = 0) -> Any:
    if depth > 64:
        raise ProtobufError("message nested too deeply")
    table = _messages().get(type_)
    if table is None:
        raise ProtobufError(f"no protobuf form known for {type_}")
    message: Obj = {}
    for number, wire, value in _wire_fields(data):
        field = table.get(number)
        if field is None:
            continue  # a field newer than kubesim's tables: the apiserver skips it too
        name, label, field_type, inline = field
        if label == "map":
            key_type, value_type = field_type
            if not isinstance(value, bytes):
                raise ProtobufError(f"map field {name} is not length-delimited")
            key: Any = ""
            item: Any = None
            for entry_number, entry_wire, entry_value in _wire_fields(value):
                if entry_number == 1:
                    key = _value(key_type, entry_wire, entry_value, depth)
                elif entry_number == 2:
                    item = _value(value_type, entry_wire, entry_value, depth)
            message.setdefault(name, {})[key] = "" if item is None else item
        elif label == "repeated":
            items = message.setdefault(name, [])
            if field_type in _SCALAR_TYPES and field_type not in ("string", "bytes") and wire == 2:
                assert isinstance(value, bytes)
                items.extend(_packed(field_type, value))
            else:
                items.append(_value(field_type, wire, value, depth))
        elif inline:
            embedded = _value(field_type, wire, value, depth)
            if isinstance(embedded, dict):
                message.update(embedded)  # an embedded Go struct: JSON inlines its fields
        else:
            message[name] = _value(field_type, wire, value, depth)
    special, replacement = _special(type_, message)
    if special:
        return replacement
    return {k: v for k, v in message.items() if v is not None and v != ""}


_SCALAR_TYPES: Final = frozenset(
    {"string", "bytes", "bool", "int32", "int64", "uint32", "uint64", "double", "float"}
)


def _value(type_: str, wire: int, value: int | bytes, depth: int) -> Any:
    if type_ in _SCALAR_TYPES:
        return _scalar(type_, wire, value)
    if not isinstance(value, bytes):
        raise ProtobufError(f"a {type_} field is not length-delimited")
    return _decode(type_, value, depth + 1)


def message_type(api_version: str, kind: str) -> str:
    """The proto message name of a built-in kind (`apps/v1`, `Deployment` ->
    `k8s.io.api.apps.v1.Deployment`)."""
    group, _, version = api_version.rpartition("/")
    if kind in _META_KINDS:
        return f"{_META}.{kind}"
    package = _GROUP_PACKAGES.get(group)
    if package is None:
        raise ProtobufError(f"no protobuf form for {api_version}")
    return f"{package}.{version}.{kind}"


def decode(body: bytes, *, default_api_version: str = "", default_kind: str = "") -> Obj:
    """A `k8s\\0`-framed protobuf body as the JSON object it encodes (with `apiVersion`
    and `kind` from its type meta, or the given defaults when it carries none)."""
    if not body.startswith(MAGIC):
        raise ProtobufError("not a Kubernetes protobuf body (no k8s magic)")
    unknown = _decode(_UNKNOWN, body[len(MAGIC) :])
    if unknown.get("contentEncoding"):
        raise ProtobufError(f"unsupported content encoding {unknown['contentEncoding']!r}")
    api_version = unknown.get("apiVersion") or default_api_version
    kind = unknown.get("kind") or default_kind
    if not api_version or not kind:
        raise ProtobufError("the body names no apiVersion and kind")
    raw = base64.b64decode(unknown.get("raw", ""))
    obj = _decode(message_type(api_version, kind), raw)
    if not isinstance(obj, dict):
        raise ProtobufError(f"{kind} is not an object")
    return {"apiVersion": api_version, "kind": kind, **obj}
