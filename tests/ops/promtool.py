"""promtool, which comes with Debian's `prometheus` package (`make test` installs it)."""

import shutil
import subprocess
from pathlib import Path


def promtool(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    assert binary is not None, "promtool missing: `make test` installs Debian's prometheus package"
    return subprocess.run(
        [binary, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=60
    )
