"""`python -m jan_models.ops [--check]`: write (or check) the generated files in deploy/."""

import sys
from pathlib import Path

from jan_models.ops.generated import generated_files


def main(argv: list[str]) -> int:
    root = Path(__file__).resolve().parents[2]
    stale = []
    for relative, text in generated_files().items():
        path = root / relative
        if "--check" in argv:
            if not path.exists() or path.read_text() != text:
                stale.append(relative)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {relative}")
    for relative in stale:
        print(f"{relative} differs from what jan_models/ops generates", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
