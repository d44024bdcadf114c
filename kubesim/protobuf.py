"""The one protobuf body kubesim reads: `DeleteOptions`, which client-go's typed clients
(so `kubectl drain`) send with DELETE as `application/vnd.kubernetes.protobuf`.

A Kubernetes protobuf body is the magic `k8s\\0` followed by a `runtime.Unknown` message
whose field 2 holds the encoded object. Only the wire types protobuf uses for these
messages (varint and length-delimited) are read; anything else is a malformed body.
"""

from __future__ import annotations

from typing import Any

_MAGIC = b"k8s\x00"

Obj = dict[str, Any]
Fields = dict[int, list[int | bytes]]


class ProtobufError(ValueError):
    pass


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result, shift = 0, 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ProtobufError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(data: bytes) -> Fields:
    fields: Fields = {}
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        value: int | bytes
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 2:
            size, pos = _varint(data, pos)
            if pos + size > len(data):
                raise ProtobufError("truncated field")
            value, pos = data[pos : pos + size], pos + size
        else:
            raise ProtobufError(f"unsupported wire type {wire}")
        fields.setdefault(number, []).append(value)
    return fields


def _text(fields: Fields, number: int) -> str | None:
    values = fields.get(number)
    return bytes(values[-1]).decode() if values and isinstance(values[-1], bytes) else None


def _number(fields: Fields, number: int) -> int | None:
    values = fields.get(number)
    if not values or not isinstance(values[-1], int):
        return None
    value = values[-1]
    return value - (1 << 64) if value >= 1 << 63 else value


def delete_options(body: bytes) -> Obj:
    """A protobuf-encoded `DeleteOptions` as the JSON object it stands for."""
    if not body.startswith(_MAGIC):
        raise ProtobufError("missing the k8s protobuf magic prefix")
    raw = _fields(body[len(_MAGIC) :]).get(2)
    if not raw or not isinstance(raw[-1], bytes):
        raise ProtobufError("no object in the protobuf envelope")
    fields = _fields(raw[-1])
    options: Obj = {"kind": "DeleteOptions", "apiVersion": "meta.k8s.io/v1"}
    grace = _number(fields, 1)
    if grace is not None:
        options["gracePeriodSeconds"] = grace
    pre = fields.get(2)
    if pre and isinstance(pre[-1], bytes):
        inner = _fields(pre[-1])
        options["preconditions"] = {
            k: v
            for k, v in (("uid", _text(inner, 1)), ("resourceVersion", _text(inner, 2)))
            if v is not None
        }
    orphan = _number(fields, 3)
    if orphan is not None:
        options["orphanDependents"] = bool(orphan)
    policy = _text(fields, 4)
    if policy is not None:
        options["propagationPolicy"] = policy
    dry_run = [bytes(v).decode() for v in fields.get(5, []) if isinstance(v, bytes)]
    if dry_run:
        options["dryRun"] = dry_run
    return options
