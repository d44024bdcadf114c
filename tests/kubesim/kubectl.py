"""Running the real kubectl against a kubesim from async tests."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

KUBECTL = shutil.which("kubectl")


class Kubectl:
    def __init__(self, kubeconfig: Path) -> None:
        self.kubeconfig = kubeconfig

    def _run(self, args: tuple[str, ...], stdin: str | None) -> subprocess.CompletedProcess[str]:
        assert KUBECTL is not None, "kubectl is not installed"
        return subprocess.run(
            [KUBECTL, "--kubeconfig", str(self.kubeconfig), *args],
            capture_output=True,
            text=True,
            input=stdin,
            timeout=60,
            check=False,
        )

    async def run(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """The finished command, whatever its exit code."""
        return await asyncio.to_thread(self._run, args, stdin)

    async def __call__(self, *args: str, stdin: str | None = None) -> str:
        """Its output; the command must succeed."""
        done = await self.run(*args, stdin=stdin)
        assert done.returncode == 0, f"kubectl {' '.join(args)} failed: {done.stderr}"
        return done.stdout
