"""Kubernetes resource quantities (`2000m`, `16Gi`, `1.5e3`), parsed exactly.

The grammar is apimachinery's: a signed decimal number, then either a binary suffix
(Ki..Ei), a decimal suffix (n, u, m, k, M..E) or a decimal exponent (e3, E-2).
"""

import re
from decimal import Decimal, InvalidOperation
from typing import Final

_BINARY: Final = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL: Final = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}
_QUANTITY: Final = re.compile(
    r"^(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?$"
)
MAX_QUANTITY_LENGTH: Final = 32
#: a quantity that is not negative, as a JSON Schema (ECMA) pattern
NON_NEGATIVE_PATTERN: Final = (
    r"^\+?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?$"
)


class InvalidQuantityError(ValueError):
    def __init__(self, text: str) -> None:
        super().__init__(f"{text!r} is not a Kubernetes quantity (e.g. 2000m, 16Gi, 1.5)")


def parse_quantity(text: str) -> Decimal:
    """The value of a quantity in base units (cores, bytes, GPUs)."""
    match = _QUANTITY.fullmatch(text) if len(text) <= MAX_QUANTITY_LENGTH else None
    if match is None:
        raise InvalidQuantityError(text)
    try:
        number = Decimal(match["number"])
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only decimals
        raise InvalidQuantityError(text) from exc
    suffix = match["suffix"] or ""
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix in _DECIMAL:
        return number * _DECIMAL[suffix]
    try:
        return number * (Decimal(10) ** int(suffix[1:]))
    except ArithmeticError as exc:  # an exponent past what a Decimal holds (`1e+99999999`)
        raise InvalidQuantityError(text) from exc


def is_quantity(text: str) -> bool:
    try:
        parse_quantity(text)
    except InvalidQuantityError:
        return False
    return True


def format_binary(value_bytes: int | Decimal) -> str:
    """Bytes as the largest whole binary unit the seed uses (`40Gi`, `1536Mi`, `0`)."""
    value = int(value_bytes)
    if value == 0:
        return "0"
    for suffix in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki"):
        unit = _BINARY[suffix]
        if value % unit == 0:
            return f"{value // unit}{suffix}"
    return str(value)


MIB: Final = 2**20


def whole_gi(mib: int) -> str:
    """MiB as whole Gi, rounded down: 8 x 81,559 MiB is `637Gi`."""
    return f"{max(0, mib) // 1024}Gi"
