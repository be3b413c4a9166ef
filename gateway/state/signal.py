"""A counter in a small memory-mapped file, shared by the processes of one machine.

Reading it is a memory read: no system call, no database round trip and no release of the
GIL, so a hot path can ask "has anything changed since I last looked?" for free. Writers bump
it (under a file lock, so no bump is lost) after their change is committed; a reader that sees
a new value then reads the change itself from where it lives.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import struct
from pathlib import Path

_FORMAT = "<Q"
_SIZE = struct.calcsize(_FORMAT)


class SharedCounter:
    """The counter in ``path`` (created, 8 bytes, owner-only, on first use in a process)."""

    def __init__(self, path: Path | str):
        self._path = str(path)
        self._pid: int | None = None
        self._fd = -1
        self._map: mmap.mmap | None = None

    def value(self) -> int:
        return struct.unpack_from(_FORMAT, self._mapped())[0]

    def bump(self) -> None:
        mapped = self._mapped()
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            struct.pack_into(_FORMAT, mapped, 0, (struct.unpack_from(_FORMAT, mapped)[0] + 1) % 2**64)
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _mapped(self) -> mmap.mmap:
        if self._pid != os.getpid() or self._map is None:
            fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            if os.fstat(fd).st_size < _SIZE:
                os.ftruncate(fd, _SIZE)
            self._fd, self._map, self._pid = fd, mmap.mmap(fd, _SIZE), os.getpid()
        return self._map


def counter_beside(database_url: str, suffix: str) -> SharedCounter | None:
    """A counter in a file beside a file-backed SQLite database (``<file>-<suffix>``); None for
    any other database (its processes may be on other machines)."""
    prefix = "sqlite:///"
    if not database_url.startswith(prefix):
        return None
    database = database_url[len(prefix):].split("?", 1)[0]
    if not database or database == ":memory:":
        return None
    return SharedCounter(f"{database}-{suffix}")
