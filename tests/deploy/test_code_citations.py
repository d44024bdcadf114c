"""The code explains itself in words: no docstring or comment sends the reader to a design
document, or to a `../shared/` file, that a user who clones the repository does not have."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
PACKAGES = ("services", "shared", "kubesim", "jan_models")
CITATION = re.compile(r"\bDESIGN\b|\.\./shared/")


def sources() -> list[Path]:
    return sorted(path for package in PACKAGES for path in (ROOT / package).rglob("*.py"))


def citations(path: Path) -> list[str]:
    return [
        f"{path.name}:{number}: {line.strip()}"
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if CITATION.search(line)
    ]


def test_no_module_cites_a_document_outside_the_repository() -> None:
    found = [
        f"{path.parent.relative_to(ROOT)}/{cited}"
        for path in sources()
        for cited in citations(path)
    ]

    assert found == []


@pytest.mark.parametrize(
    "line", ["never taken over (DESIGN 9).", "see [the contract](../shared/DESIGN.md)"]
)
def test_the_reader_finds_a_citation(tmp_path: Path, line: str) -> None:
    module = tmp_path / "module.py"
    module.write_text(f'"""A docstring.\n\n{line}\n"""\n')

    assert len(citations(module)) == 1
