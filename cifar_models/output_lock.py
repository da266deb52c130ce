"""One training run per output folder: ``<out>/.train.lock`` holds the PID of the run writing there.

The file is locked with ``flock`` while the run lives; the kernel drops that lock when the process ends however it
ends, so a lock file left by a killed run (its PID no longer running) is simply taken over by the next run. A normal
exit removes the file. Opening the lock file is also the first write into the folder: a folder that is a file or
cannot be written is refused here, before any data is loaded or any epoch trained.
"""
from __future__ import annotations

import fcntl
import os
import socket
from pathlib import Path

LOCK_FILE = ".train.lock"


class OutputFolderError(RuntimeError):
    """The output folder is a file, cannot be written, or another run is writing to it; the message names it."""


def _holder(descriptor: int) -> str:
    """What the lock file says about the run that wrote it: "PID 1234 on host", or "" for an empty file."""
    words = os.pread(descriptor, 200, 0).decode(errors="replace").split()
    return f"PID {words[0]}{f' on {words[1]}' if len(words) > 1 else ''}" if words else ""


class OutputLock:
    """``with OutputLock(folder) as lock:`` holds ``folder`` for this process; ``lock.taken_over`` names the dead
    run whose lock file it replaced, if any."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.path = self.folder / LOCK_FILE
        self.taken_over = ""
        self._descriptor: int | None = None

    def acquire(self) -> None:
        if self.folder.exists() and not self.folder.is_dir():
            raise OutputFolderError(f"--out {self.folder} is a file, not a folder; choose a folder for the checkpoints.")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise OutputFolderError(f"--out {self.folder} cannot be created: {error.strerror}.") from None
        while True:
            try:
                descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as error:
                raise OutputFolderError(f"--out {self.folder} cannot be written: {error.strerror}.") from None
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _holder(descriptor) or "one that is just starting"
                os.close(descriptor)
                raise OutputFolderError(f"--out {self.folder} is in use by another training run ({holder}; see "
                                        f"{self.path}). Wait for it to finish, or choose another --out.") from None
            # The holder may have removed the file between our open and our lock: then lock the new file instead.
            try:
                current = os.stat(self.path).st_ino == os.fstat(descriptor).st_ino
            except FileNotFoundError:
                current = False
            if current:
                break
            os.close(descriptor)
        self.taken_over = _holder(descriptor)  # whoever wrote it no longer holds the lock: it has ended
        try:
            os.ftruncate(descriptor, 0)
            os.pwrite(descriptor, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
        except OSError as error:
            os.close(descriptor)
            raise OutputFolderError(f"--out {self.folder} cannot be written: {error.strerror}.") from None
        self._descriptor = descriptor

    def release(self) -> None:
        if self._descriptor is None:
            return
        self.path.unlink(missing_ok=True)  # while still locked, so no other run can have taken it meanwhile
        os.close(self._descriptor)
        self._descriptor = None

    def __enter__(self) -> "OutputLock":
        self.acquire()
        return self

    def __exit__(self, *exc_info) -> None:
        self.release()


def running_holder(folder: str | os.PathLike) -> str | None:
    """"PID 1234 on host" of the training run that holds ``folder`` now, or None when no run does. Only looks: a
    shared lock taken and dropped at once, never the lock file's creation (the dashboard follows a run with this)."""
    try:
        descriptor = os.open(Path(folder) / LOCK_FILE, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _holder(descriptor) or "a run that is just starting"
        fcntl.flock(descriptor, fcntl.LOCK_UN)
        return None
    finally:
        os.close(descriptor)
