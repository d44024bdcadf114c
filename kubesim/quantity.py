"""Kubernetes resource quantities (`500m`, `16Gi`, `1e3`), parsed the way the apiserver does."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

QUANTITY_PATTERN = r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
_RE = re.compile(
    r"^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$"
)

_SUFFIX = {
    "": Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal(10**3),
    "M": Decimal(10**6),
    "G": Decimal(10**9),
    "T": Decimal(10**12),
    "P": Decimal(10**15),
    "E": Decimal(10**18),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
}

INVALID_MESSAGE = f"quantities must match the regular expression '{QUANTITY_PATTERN}'"


#: parsed text quantities: a cluster uses few distinct ones (`100m`, `1Gi`) and parses them
#: for every pod it validates and schedules; bounded, invalid texts are never kept
_PARSED: dict[str, Decimal] = {}
_PARSED_MAX = 4096


def parse_quantity(value: object) -> Decimal:
    """The quantity's value; raises ValueError when it is not a Kubernetes quantity."""
    if isinstance(value, str):
        parsed = _PARSED.get(value)
        if parsed is None:
            parsed = _parse(value)
            if len(_PARSED) < _PARSED_MAX:
                _PARSED[value] = parsed
        return parsed
    return _parse(value)


def _parse(value: object) -> Decimal:
    if isinstance(value, bool):
        raise ValueError(INVALID_MESSAGE)
    if isinstance(value, int | float):
        return Decimal(str(value))
    if not isinstance(value, str):
        raise ValueError(INVALID_MESSAGE)
    m = _RE.match(value.strip())
    if not m:
        raise ValueError(INVALID_MESSAGE)
    number, suffix = m.group(1), m.group(2) or ""
    try:
        base = Decimal(number)
        if suffix[:1] in ("e", "E"):
            return base * (Decimal(10) ** int(suffix[1:]))
        return base * _SUFFIX[suffix]
    except (InvalidOperation, KeyError) as exc:
        raise ValueError(INVALID_MESSAGE) from exc


def is_quantity(value: object) -> bool:
    try:
        parse_quantity(value)
    except ValueError:
        return False
    return True
