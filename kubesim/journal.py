"""Durable state under a data directory, the way a single etcd member keeps it: a snapshot
of every object at one revision plus an append-only write-ahead log of the changes since.

Files in the directory:

- `snapshot`: records `{"format": 1, "revision": R}`, one `[key, object]` per object, then
  `{"end": n}`. It is written to `snapshot.tmp`, fsynced and renamed over the old one, so a
  snapshot is whole or absent; a directory without one is a fresh cluster.
- `wal`: one record per change after the snapshot, `["A"|"M", key, object]` for a stored
  object (its resourceVersion inside) or `["D", key, namespace, name, rv]` for a removal.
  Records at or below the snapshot's revision (a crash between the snapshot's rename and
  the log's reset leaves them) are skipped on replay.
- `lock`: held (`flock`) while a kubesim uses the directory; a second one refuses to start.

Every record is framed as `<length u32><crc32 u32><JSON>`. Replay stops at the first
record that is cut short or fails its checksum (a crash in the middle of a write), and
the log is truncated there: the partial record is dropped, as etcd's WAL repair does.

Durability: each record goes to the kernel with one `write` before the change it records
is answered, so a killed kubesim (SIGKILL) loses nothing it acknowledged; the log is
fsynced at most `sync_interval` seconds later (by `KubeSim.serve`), on every snapshot
and on stop, so a power failure or kernel crash loses at most that last interval. That is
the trade a dev cluster wants: etcd fsyncs every commit, which would make each simulated
controller write cost a disk flush.

When the log outgrows `compact_bytes`, a new snapshot replaces it (compaction, written
in the event loop: milliseconds for a dev cluster, seconds for a hundred thousand
objects). Watches resume across a restart from any revision still in the log; older ones
get `410 Gone`, as after an etcd compaction.

What is kept is what etcd would hold: every object, Events included (their TTL runs on
by the wall clock). The audit log, fault settings and fault rules describe one process's
requests and a test's setup, and start empty, as an apiserver's in-memory state does.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import struct
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson

Obj = dict[str, Any]
Objects = dict[str, dict[str, dict[str, Obj]]]

FORMAT = 1
_HEADER = struct.Struct("<II")
DEFAULT_COMPACT_BYTES = 64 * 1024**2
log = logging.getLogger(__name__)


class JournalError(Exception):
    """The data directory cannot be used (locked by another kubesim, or a damaged snapshot)."""


@dataclass(frozen=True, slots=True)
class Put:
    type: Literal["ADDED", "MODIFIED"]
    key: str
    obj: Obj


@dataclass(frozen=True, slots=True)
class Remove:
    key: str
    namespace: str
    name: str
    rv: int


Change = Put | Remove


@dataclass
class Recovered:
    """What a data directory held: the snapshot's objects at `revision`, then the changes
    logged after it, in order; `dropped` bytes of a partial last record were cut off."""

    revision: int
    objects: Objects
    changes: list[Change] = field(default_factory=list)
    dropped: int = 0


def _frame(payload: bytes) -> bytes:
    return _HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def _frames(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(offset after the record, payload) of each whole record with a good checksum."""
    offset = 0
    while offset + _HEADER.size <= len(data):
        length, crc = _HEADER.unpack_from(data, offset)
        start = offset + _HEADER.size
        payload = data[start : start + length]
        if len(payload) < length or zlib.crc32(payload) != crc:
            return
        offset = start + length
        yield offset, payload


def _change(record: Any) -> Change:
    if record[0] == "D":
        return Remove(record[1], record[2], record[3], int(record[4]))
    return Put("ADDED" if record[0] == "A" else "MODIFIED", record[1], record[2])


class Journal:
    def __init__(
        self,
        directory: str | Path,
        *,
        compact_bytes: int = DEFAULT_COMPACT_BYTES,
        sync_interval: float = 1.0,
    ) -> None:
        self.directory = Path(directory)
        self.compact_bytes = compact_bytes
        self.sync_interval = sync_interval
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock = os.open(self.directory / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            os.close(self._lock)
            raise JournalError(
                f"{self.directory} is in use by another kubesim (its lock file is held)"
            ) from exc
        self._wal = -1
        self.wal_bytes = 0
        self._unsynced = False

    @property
    def snapshot_path(self) -> Path:
        return self.directory / "snapshot"

    @property
    def wal_path(self) -> Path:
        return self.directory / "wal"

    # -- recovery ----------------------------------------------------------------------

    def recover(self) -> Recovered | None:
        """The state the directory holds (None when it holds none yet); the log is opened
        for appending after its last whole record."""
        if not self.snapshot_path.exists():
            return None
        revision, objects = self._read_snapshot()
        recovered = Recovered(revision, objects)
        data = self.wal_path.read_bytes() if self.wal_path.exists() else b""
        end = 0
        for end, payload in _frames(data):  # noqa: B007 - `end` is the last good offset
            change = _change(orjson.loads(payload))
            rv = change.rv if isinstance(change, Remove) else _rv(change.obj)
            if rv > revision:
                recovered.changes.append(change)
        recovered.dropped = len(data) - end
        if recovered.dropped:
            log.warning(
                "kubesim: dropped %d bytes of a partial record at the end of %s",
                recovered.dropped,
                self.wal_path,
            )
            os.truncate(self.wal_path, end)
        self._open_wal()
        return recovered

    def _read_snapshot(self) -> tuple[int, Objects]:
        data = self.snapshot_path.read_bytes()
        frames = _frames(data)
        header = next(frames, None)
        head = orjson.loads(header[1]) if header else None
        if not isinstance(head, dict) or head.get("format") != FORMAT:
            raise JournalError(f"{self.snapshot_path} is not a kubesim snapshot (format {FORMAT})")
        objects: Objects = {}
        for count, (_end, payload) in enumerate(frames):
            record = orjson.loads(payload)
            if isinstance(record, dict):
                if record.get("end") != count:
                    break
                return int(head["revision"]), objects
            key, obj = record
            meta = obj["metadata"]
            by_name = objects.setdefault(key, {}).setdefault(meta.get("namespace", ""), {})
            by_name[meta["name"]] = obj
        raise JournalError(f"{self.snapshot_path} is damaged (cut short or a bad checksum)")

    # -- writing -----------------------------------------------------------------------

    def _open_wal(self) -> None:
        if self._wal >= 0:
            os.close(self._wal)
        self._wal = os.open(self.wal_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self.wal_bytes = os.fstat(self._wal).st_size

    def put(self, event_type: str, key: str, obj: Obj) -> None:
        self._append(orjson.dumps(("A" if event_type == "ADDED" else "M", key, obj)))

    def remove(self, key: str, namespace: str, name: str, rv: int) -> None:
        self._append(orjson.dumps(("D", key, namespace, name, rv)))

    def _append(self, payload: bytes) -> None:
        record = _frame(payload)
        os.write(self._wal, record)
        self.wal_bytes += len(record)
        self._unsynced = True

    @property
    def wants_compaction(self) -> bool:
        return self.wal_bytes > self.compact_bytes

    def sync(self) -> None:
        """fsync the log if something was written since the last time."""
        if self._unsynced and self._wal >= 0:
            self._unsynced = False
            os.fsync(self._wal)

    def snapshot(self, revision: int, objects: Iterable[tuple[str, Obj]]) -> None:
        """Write every object at `revision` as the new snapshot, then start an empty log."""
        tmp = self.directory / "snapshot.tmp"
        count = 0
        with tmp.open("wb") as out:
            out.write(_frame(orjson.dumps({"format": FORMAT, "revision": revision})))
            chunk: list[bytes] = []
            for key, obj in objects:
                chunk.append(_frame(orjson.dumps((key, obj))))
                count += 1
                if len(chunk) >= 1024:
                    out.write(b"".join(chunk))
                    chunk.clear()
            out.write(b"".join(chunk))
            out.write(_frame(orjson.dumps({"end": count})))
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.snapshot_path)
        fresh = self.directory / "wal.tmp"
        with fresh.open("wb") as out:
            os.fsync(out.fileno())
        os.replace(fresh, self.wal_path)
        self._fsync_directory()
        self._open_wal()
        self._unsynced = False

    def _fsync_directory(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def close(self) -> None:
        if self._wal >= 0:
            self.sync()
            os.close(self._wal)
            self._wal = -1
        if self._lock >= 0:
            with contextlib.suppress(OSError):
                fcntl.flock(self._lock, fcntl.LOCK_UN)
            os.close(self._lock)
            self._lock = -1


def _rv(obj: Obj) -> int:
    return int(obj["metadata"]["resourceVersion"])
