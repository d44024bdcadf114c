from decimal import Decimal

import pytest

from shared.quantity import InvalidQuantityError, format_binary, parse_quantity


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("2000m", Decimal(2)),
        ("2", Decimal(2)),
        ("16Gi", Decimal(16 * 2**30)),
        ("1.5Gi", Decimal(3 * 2**29)),
        ("1e3", Decimal(1000)),
        ("500M", Decimal(500_000_000)),
        (".5", Decimal("0.5")),
    ],
)
def test_kubernetes_quantities_parse_to_base_units(text: str, value: Decimal) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize(
    "text",
    [
        "",
        "lots",
        "16GB",
        "1.2.3",
        "Gi",
        "16 Gi",
        "1" * 40,
        "16Gi\n",
        "8.e+020960462",
    ],
)
def test_what_is_not_a_quantity_is_refused(text: str) -> None:
    with pytest.raises(InvalidQuantityError):
        parse_quantity(text)


def test_bytes_format_as_the_seed_writes_vram() -> None:
    assert [format_binary(40 * 2**30), format_binary(1536 * 2**20), format_binary(0)] == [
        "40Gi",
        "1536Mi",
        "0",
    ]
