"""Every relative link a reader of the README and docs/ follows resolves inside the repository."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def relative_links(document: Path) -> list[str]:
    links = [target.split("#", 1)[0] for target in LINK.findall(document.read_text())]
    return [link for link in links if link and "://" not in link and not link.startswith("mailto:")]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_relative_links_resolve_inside_the_repository(document: Path) -> None:
    broken = []
    for link in relative_links(document):
        target = (document.parent / link).resolve()
        if ROOT.resolve() not in target.parents or not target.exists():
            broken.append(link)

    assert broken == []


def test_the_link_reader_finds_links() -> None:
    assert "docs/architecture.md" in relative_links(ROOT / "README.md")
