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
        self.path = str(path)
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
            os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            if os.fstat(fd).st_size < _SIZE:
                os.ftruncate(fd, _SIZE)
            self._fd, self._map, self._pid = fd, mmap.mmap(fd, _SIZE), os.getpid()
        return self._map
