"""Structured logging, set up once per process.

One event per line: JSON when stderr is not a terminal (or when asked), `key=value` when
it is. Fields passed with `extra=` are kept. Anything shaped like a Hugging Face token is
scrubbed from every line as a last line of defence; the code never logs one on purpose.
"""

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Final, Literal

from shared.tracing import TraceField

_RESERVED: Final = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
}
_HF_TOKEN: Final = re.compile(r"hf_[A-Za-z0-9]{6,}")
REDACTED: Final = "[redacted]"


def scrub(text: str) -> str:
    return _HF_TOKEN.sub(REDACTED, text)


def _fields(record: logging.LogRecord) -> dict[str, object]:
    fields: dict[str, object] = {
        "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
        "level": record.levelname.lower(),
        "logger": record.name,
        "event": record.getMessage(),
    }
    fields.update({k: v for k, v in vars(record).items() if k not in _RESERVED})
    if record.exc_info:
        fields["exception"] = logging.Formatter().formatException(record.exc_info)
    return fields


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return scrub(json.dumps(_fields(record), default=str))


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = _fields(record)
        head = f"{fields.pop('time')} {fields.pop('level'):<7} {fields.pop('event')}"
        exception = fields.pop("exception", None)
        tail = " ".join(f"{k}={v}" for k, v in fields.items())
        line = f"{head} {tail}"
        if exception:
            line = f"{line}\n{exception}"
        return scrub(line)


_configured = False


def configure_logging(
    level: str = "INFO", fmt: Literal["auto", "json", "text"] = "auto", *, service: str = ""
) -> None:
    """Install one handler on the root logger; later calls only change the level."""
    global _configured
    root = logging.getLogger()
    root.setLevel(level)
    if _configured:
        return
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if use_json else KeyValueFormatter())
    if service:
        handler.addFilter(_ServiceField(service))
    handler.addFilter(TraceField())
    root.handlers[:] = [handler]
    for noisy in ("pymongo", "nats", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    _configured = True


class _ServiceField(logging.Filter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        return True
