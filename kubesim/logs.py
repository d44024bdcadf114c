"""Simulated container output for `GET .../pods/NAME/log` (`kubectl logs`).

What a container prints comes from the scenario's `logs:` entries (the first whose image
pattern matches), else from a built-in script: a vLLM server's start-up ending
`INFO:     Application startup complete.` for vLLM images, one line for anything else.
A crash-looping container prints its start-up and then a Python traceback, for the
current container and `--previous` alike. Lines are dated from the container's start.
"""

from __future__ import annotations

import fnmatch
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

Obj = dict[str, Any]

VLLM_STARTUP = (
    "INFO {date} [__init__.py:239] Automatically detected platform cuda.",
    "INFO {date} [api_server.py:1043] vLLM API server version 0.9.0",
    "INFO {date} [api_server.py:1044] args: {args}",
    "INFO {date} [config.py:717] This model supports multiple tasks: {{'generate'}}. "
    "Defaulting to 'generate'.",
    "INFO {date} [gpu_model_runner.py:1329] Starting to load model {model}...",
    "INFO {date} [gpu_model_runner.py:1347] Model loading took 14.99 GiB and 27.12 seconds",
    "INFO {date} [kv_cache_utils.py:634] GPU KV cache size: 311,296 tokens",
    "INFO {date} [api_server.py:1090] Starting vLLM API server 0 on http://0.0.0.0:{port}",
    "INFO:     Started server process [1]",
    "INFO:     Waiting for application startup.",
    "INFO:     Application startup complete.",
)
CRASH = (
    "Traceback (most recent call last):",
    '  File "/usr/local/bin/vllm", line 8, in <module>',
    "    sys.exit(main())",
    '  File "/usr/local/lib/python3.12/dist-packages/vllm/entrypoints/cli/main.py", '
    "line 59, in main",
    "    args.dispatch_function(args)",
    '  File "/usr/local/lib/python3.12/dist-packages/vllm/worker/model_runner.py", '
    "line 1047, in load_model",
    "    self.model = get_model(vllm_config=self.vllm_config)",
    "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a "
    "total capacity of 79.19 GiB of which 1.06 GiB is free.",
)
_STEP = timedelta(milliseconds=250)


@dataclass(frozen=True, slots=True)
class Script:
    """What containers whose image matches `image` (substring or glob) print."""

    image: str
    lines: tuple[str, ...] = ()
    #: what the last terminated container printed (a crash loop's traceback)
    previous: tuple[str, ...] = ()

    def matches(self, image: str) -> bool:
        return self.image in image or fnmatch.fnmatchcase(image, self.image)


def _started(status: Obj | None, pod: Obj) -> datetime:
    state = (status or {}).get("state") or {}
    last = ((status or {}).get("lastState") or {}).get("terminated") or {}
    stamp = (
        (state.get("running") or {}).get("startedAt")
        or last.get("startedAt")
        or (pod.get("status") or {}).get("startTime")
        or pod["metadata"].get("creationTimestamp")
    )
    return datetime.strptime(str(stamp), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def _vllm(container: Obj, started: datetime) -> list[str]:
    words = [*(container.get("command") or []), *(container.get("args") or [])]
    if len(words) >= 2 and words[-2] == "-c":  # sh -c "vllm serve ..."
        words = [*words[:-2], *shlex.split(words[-1])]
    model, port = "facebook/opt-125m", "8000"
    for i, word in enumerate(words[:-1]):
        named = word == "serve" and not words[i + 1].startswith("-")
        if named or word in ("--model", "--served-model-name"):
            model = words[i + 1]
        elif word == "--port":
            port = words[i + 1]
    args = f"Namespace(model='{model}', port={port})"
    lines = []
    for n, template in enumerate(VLLM_STARTUP):
        date = (started + n * _STEP).strftime("%m-%d %H:%M:%S")
        lines.append(template.format(date=date, args=args, model=model, port=port))
    return lines


class LogBook:
    def __init__(self, scripts: Sequence[Script] = ()) -> None:
        self.scripts = tuple(scripts)

    def lines(
        self, pod: Obj, container: Obj, status: Obj | None, *, previous: bool
    ) -> list[tuple[datetime, str]]:
        """(time, line) printed by `container` of `pod` (its last run with `previous`)."""
        image = str(container.get("image", ""))
        started = _started(status, pod)
        crashed = bool((status or {}).get("restartCount"))
        script = next((s for s in self.scripts if s.matches(image)), None)
        if script is not None:
            text = list(script.previous if (previous or crashed) and script.previous else ())
            text = text or list(script.lines)
        elif "vllm" in image:
            text = _vllm(container, started)
            if crashed:
                text = [*text[:5], *CRASH]
        else:
            text = [f"Started {container['name']} ({image})"]
            if crashed:
                text += list(CRASH)
        return [(started + i * _STEP, line) for i, line in enumerate(text)]
