"""One run at a time per data dir: an OS file lock that dies with its process.

The lock is ``fcntl.flock(LOCK_EX)`` on ``<data_dir>/.run.lock``. The kernel releases it when
the holding process exits for any reason (including SIGKILL), so a killed run never leaves a
lock behind. Who holds it (pid, host, command, ds, started_at) is written to the side file
``<data_dir>/.run.lock.json``; the side file is only *information*: whether the lock is held
is always decided by the kernel, never by the side file (a killed holder leaves a stale one).

``flock`` locks belong to an open file description, so two :class:`DataDirLock` objects
conflict even inside one process, and the lock file descriptor is not inherited by child
processes (Python opens files non-inheritable).

Example::

    with DataDirLock(settings.data_dir) as lock:      # acquire({}) with defaults
        ...
    lock = DataDirLock(data_dir)
    lock.acquire({"ds": "2026-12-01", "command": "social-warehouse run --ds 2026-12-01"})
    try:
        ...
    finally:
        lock.release()
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["RunLockedError", "DataDirLock", "current_holder", "describe_holder", "LOCK_NAME",
           "HOLDER_NAME"]

LOCK_NAME = ".run.lock"
HOLDER_NAME = ".run.lock.json"

# A probe by current_holder() takes the lock for a few microseconds; acquire() retries a
# refusal this often when no live holder is recorded, so a probe never refuses a real run.
_PROBE_RETRIES = 5
_PROBE_RETRY_SECONDS = 0.05


class RunLockedError(Exception):
    """Another live process holds the data dir's run lock; the message names it."""

    def __init__(self, data_dir: Path | str, holder: dict | None) -> None:
        self.data_dir = str(data_dir)
        self.holder = holder or {}
        super().__init__(
            f"data dir {self.data_dir} is in use by another run ({describe_holder(self.holder)}); "
            "wait for it to finish or stop that process, then retry"
        )


def describe_holder(holder: dict | None) -> str:
    """One line naming a lock holder for people."""
    if not holder:
        return "holder unknown: the lock is held but its holder file is missing or unreadable"
    parts = [f"pid {holder.get('pid', '?')} on host {holder.get('host', '?')}"]
    if holder.get("ds"):
        parts.append(f"ds {holder['ds']}")
    if holder.get("run_id"):
        parts.append(f"run_id {holder['run_id']}")
    if holder.get("started_at"):
        parts.append(f"started {holder['started_at']}")
    if holder.get("command"):
        parts.append(f"command {holder['command']!r}")
    return ", ".join(parts)


def _paths(data_dir: Path | str) -> tuple[Path, Path]:
    root = Path(data_dir)
    return root / LOCK_NAME, root / HOLDER_NAME


def _read_holder(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _pid_alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _write_json_atomic(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, json.dumps(data, indent=2, sort_keys=True).encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


class DataDirLock:
    """Exclusive, non-blocking run lock on a data dir (see the module docstring)."""

    def __init__(self, data_dir: Path | str) -> None:
        self.data_dir = Path(data_dir)
        self.lock_path, self.holder_path = _paths(self.data_dir)
        self._fd: int | None = None
        self.info: dict | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, info: dict | None = None) -> None:
        """Take the lock now or raise :class:`RunLockedError` naming the running holder.

        ``info`` adds to / overrides the recorded holder fields (pid, host, command, ds,
        started_at); pid, host, command and started_at default to this process.
        """
        if self._fd is not None:
            raise RuntimeError(f"{self.lock_path} is already held by this DataDirLock")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            for attempt in range(_PROBE_RETRIES + 1):
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    holder = _read_holder(self.holder_path)
                    # a live holder recorded: refuse now. Otherwise the lock may be a
                    # current_holder() probe, or a holder between flock and its holder
                    # file: look again shortly before refusing.
                    if (holder and _pid_alive(holder.get("pid"))
                            and holder.get("host") == socket.gethostname()) \
                            or attempt == _PROBE_RETRIES:
                        raise RunLockedError(self.data_dir, holder) from None
                    time.sleep(_PROBE_RETRY_SECONDS)
        except BaseException:
            os.close(fd)
            raise
        record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": " ".join(sys.argv),
            "ds": None,
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            **(info or {}),
        }
        try:
            _write_json_atomic(self.holder_path, record)
        except BaseException:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
            raise
        self._fd = fd
        self.info = record

    def release(self) -> None:
        """Give the lock up (no-op when not held). The holder file is removed first."""
        if self._fd is None:
            return
        current = _read_holder(self.holder_path)
        if current is not None and current == self.info:
            self.holder_path.unlink(missing_ok=True)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            os.close(self._fd)
            self._fd = None
            self.info = None

    def __enter__(self) -> DataDirLock:
        self.acquire({})
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __del__(self) -> None:  # a forgotten lock is released with its object
        try:
            self.release()
        except Exception:  # noqa: BLE001 - never raise from a finaliser
            pass


def current_holder(data_dir: Path | str) -> dict | None:
    """Who holds the data dir's run lock, or None when no live process holds it.

    Asks the kernel (a non-blocking ``flock`` probe on a fresh descriptor), so a stale
    holder file left by a killed process reads as None. A held lock whose holder file is
    missing or unreadable gives ``{}`` (held, holder unknown).
    """
    lock_path, holder_path = _paths(data_dir)
    if not lock_path.exists():
        return None
    try:
        fd = os.open(lock_path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_holder(holder_path) or {}
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
