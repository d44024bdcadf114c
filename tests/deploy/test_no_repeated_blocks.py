"""No block of six or more lines is written twice in the code the project ships.

A block is six consecutive lines that are neither blank nor part of an import, compared
exactly after stripping indentation, across files and within one. Logic written twice
drifts apart; one function, one table or one shared constant serves both places.

The one kind of block left out is a function's header alone (decorators, `def`, the
parameters, the return annotation): an implementation repeats its Protocol's signature,
and keyword parameters passed straight through read the same in caller and callee. A
block that reaches one line into a body counts.
"""

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).parents[2]
PACKAGES = ("services", "shared", "kubesim", "jan_models")
SIZE = 6


def sources(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): path.read_text()
        for package in PACKAGES
        for path in sorted((root / package).rglob("*.py"))
    }


def _import_lines(tree: ast.AST) -> set[int]:
    return {
        line
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for line in range(node.lineno, (node.end_lineno or node.lineno) + 1)
    }


def _header_lines(tree: ast.AST) -> set[int]:
    """Decorators, `def` and parameters: every line of a function before its body."""
    header: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            header.update(range(first, node.body[0].lineno))
    return header


def significant_lines(source: str) -> list[tuple[int, str, bool]]:
    """(line number, stripped text, whether it is a function header line) of each line
    that is not blank and not part of an import."""
    tree = ast.parse(source)
    imports = _import_lines(tree)
    header = _header_lines(tree)
    return [
        (number, line.strip(), number in header)
        for number, line in enumerate(source.splitlines(), start=1)
        if line.strip() and number not in imports
    ]


def repeated_blocks(files: dict[str, str], size: int = SIZE) -> list[str]:
    """`a.py:12 = b.py:40` for each block of `size` lines found in two places (blocks
    that overlap in one file are one place)."""
    seen: dict[tuple[str, ...], list[tuple[str, int, int]]] = defaultdict(list)
    for name, source in files.items():
        lines = significant_lines(source)
        for start in range(len(lines) - size + 1):
            block = lines[start : start + size]
            if all(is_header for _, _, is_header in block):
                continue
            seen[tuple(text for _, text, _ in block)].append((name, start, block[0][0]))
    found = []
    for places in seen.values():
        first_name, first_start, first_line = places[0]
        for name, start, line in places[1:]:
            if name != first_name or start >= first_start + size:
                found.append(f"{first_name}:{first_line} = {name}:{line}")
    return found


def test_no_block_of_six_lines_is_repeated() -> None:
    assert repeated_blocks(sources(ROOT)) == []


BLOCK = """\
    total = 0
    for item in items:
        if item.ready:
            total += item.size
        else:
            total -= 1
    return total
"""


def _write(root: Path, name: str, text: str) -> None:
    path = root / "services" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_the_check_finds_a_block_written_in_two_files(tmp_path: Path) -> None:
    _write(tmp_path, "one.py", f"def first(items):\n{BLOCK}")
    _write(tmp_path, "two.py", f"import os\n\n\ndef second(items, extra):\n{BLOCK}")

    assert repeated_blocks(sources(tmp_path)) != []


def test_the_check_finds_a_block_written_twice_in_one_file(tmp_path: Path) -> None:
    _write(tmp_path, "one.py", f"def first(items):\n{BLOCK}\n\ndef second(items):\n{BLOCK}")

    assert repeated_blocks(sources(tmp_path)) != []


def test_blank_lines_and_imports_do_not_hide_a_repeat(tmp_path: Path) -> None:
    spread = BLOCK.replace("        else:\n", "\n        else:\n")
    _write(tmp_path, "one.py", f"def first(items):\n{BLOCK}")
    _write(tmp_path, "two.py", f"def second(items):\n    import os\n{spread}")

    assert repeated_blocks(sources(tmp_path)) != []


def test_five_lines_and_a_repeated_signature_are_not_a_block(tmp_path: Path) -> None:
    signature = "    self,\n    method: str,\n    path: str,\n    *,\n    query: str = '',\n"
    lines = BLOCK.splitlines(keepends=True)
    five = "".join(lines[:4] + lines[-1:])
    _write(tmp_path, "one.py", f"def first(\n{signature}) -> int:\n    x = 1\n{five}")
    _write(tmp_path, "two.py", f"def second(\n{signature}) -> int:\n    y = 2\n{five}")

    assert repeated_blocks(sources(tmp_path)) == []
