"""Storage that cannot write is a state of the service, not a crash.

When the outbox or the event store cannot write (a full disk, a read-only remount, an I/O
error), accepting a packet would mean acknowledging what we could not keep. So the service enters
a fault state: it refuses packets with a retryable error (the edge keeps them and sends them
again), says so in one ERROR line per store per ``log_every_s`` naming the cause and the path,
and shows it in /readyz, /healthz and the metrics. It leaves the state by itself: a periodic
``check`` finds the space back (at least ``min_free_bytes`` free and a probe write of that size
succeeds) and clears it.

``min_free_bytes`` is the headroom SQLite's WAL needs: when the disk fills, the WAL kept growing
into whatever was freed and the service never came back. Refusing new packets while less than
that is free leaves room for what is already accepted (descriptions, delivery bookkeeping) and
for the checkpoint that shrinks the WAL. Plain bookkeeping with the clock, the free-space reader
and the probe passed in, so it is tested without a full disk.

The headroom alone is not enough on a small disk: the WAL can still grow into every byte that was
freed (a burst of commits between two reads of free space), and then the checkpoint that would shrink
it needs disk space itself: SQLite copies the WAL's pages into the database file, which grows first.
No free space, no checkpoint; no checkpoint, no free space, for ever. So each store's directory keeps a
**reserve** (a ballast file, ``.vigil-reserve``, ``min_free_bytes`` long): when a store is short of space
and its checkpoint fails, the reserve is deleted and the checkpoint tried again; the reserve is written
back before the store leaves the fault state (that write is the probe).
"""
from __future__ import annotations

import errno
import logging
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

log = logging.getLogger("vigil.cloud")

LOG_EVERY_S = 60.0   # one ERROR line per store per minute while the fault lasts
RECLAIM_EVERY_S = 0.1   # at most this often a store short of space is asked to give its WAL's space back
# Free space is read at admission at most this often while every store has plenty (more than
# PLENTY_HEADROOMS times the headroom: no burst of commits eats that in 0.1 s); nearer the bound it is
# read for every packet, since one commit can take tens of KiB of WAL.
ADMIT_CHECK_EVERY_S = 0.1
PLENTY_HEADROOMS = 8
STORAGE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO}
# SQLite's messages for a write the disk refused (sqlite3 raises OperationalError without an errno)
SQLITE_STORAGE_WORDS = ("disk is full", "disk i/o error", "readonly database", "unable to open database")


def is_storage_error(exc: BaseException) -> bool:
    """True for an error that says the disk could not take a write (as opposed to a bug)."""
    if isinstance(exc, sqlite3.OperationalError):
        return any(w in str(exc).lower() for w in SQLITE_STORAGE_WORDS)
    return isinstance(exc, OSError) and exc.errno in STORAGE_ERRNOS


def free_bytes(directory: Path) -> int:
    st = os.statvfs(directory)
    return st.f_bavail * st.f_frsize


def write_bytes(path: Path, size: int) -> None:
    """Write ``size`` zero bytes to ``path`` and sync them to disk (raises OSError when the disk cannot)."""
    with open(path, "wb") as f:
        f.write(b"\0" * size)
        f.flush()
        os.fsync(f.fileno())


def probe_write(directory: Path, size: int) -> None:
    """Write ``size`` bytes next to the store and remove them; raises OSError when the disk cannot."""
    probe = directory / ".vigil-write-probe"
    try:
        write_bytes(probe, size)
    finally:
        probe.unlink(missing_ok=True)


RESERVE_NAME = ".vigil-reserve"


class Reserve:
    """The ballast files, one per directory that holds a store (see the module's docstring)."""

    def __init__(self, size: int):
        self.size = size

    def path(self, directory: Path) -> Path:
        return directory / RESERVE_NAME

    def held(self, directory: Path) -> bool:
        try:
            return self.path(directory).stat().st_size >= self.size
        except OSError:
            return False

    def make(self, directory: Path) -> None:
        """Write the reserve (raises OSError when the disk cannot take it; nothing half-written is left)."""
        path = self.path(directory)
        try:
            write_bytes(path, self.size)
        except OSError:
            path.unlink(missing_ok=True)
            raise

    def release(self, directory: Path) -> bool:
        """Delete the reserve; True when there was one to give back."""
        try:
            self.path(directory).unlink()
            return True
        except FileNotFoundError:
            return False


@dataclass
class Fault:
    store: str
    path: Path
    cause: str
    since: float
    logged_at: float | None = None


class StorageState:
    def __init__(self, stores: dict[str, Path | None], min_free_bytes: int, *,
                 clock: Callable[[], float] = time.time, free: Callable[[Path], int] = free_bytes,
                 probe: Callable[[Path, int], None] = probe_write, log_every_s: float = LOG_EVERY_S,
                 reclaim: dict[str, Callable[[], None]] | None = None, reserve: Reserve | None = None):
        """``stores``: name -> database file (None: in memory, never faulty). ``reclaim``: name -> a call that
        gives space back (the outbox's WAL checkpoint), made when a store has less than twice the headroom
        free: a WAL grows until a checkpoint, and on a nearly full disk that checkpoint needs the headroom
        itself, so it must run before the headroom is gone. ``reserve``: the ballast given up when that
        checkpoint fails for want of space, and written back before a store leaves the fault state
        (None: no ballast, as in the unit tests' simulated disks)."""
        self.stores = {name: Path(p) for name, p in stores.items() if p is not None}
        self.min_free_bytes = min_free_bytes
        self._clock, self._free, self._probe = clock, free, probe
        self.log_every_s = log_every_s
        self.faults: dict[str, Fault] = {}
        self.entered = 0          # times a store entered the fault state (a metric)
        self._reclaim = dict(reclaim or {})
        self._reclaimed_at: dict[str, float] = {}
        self.reserve = reserve
        self.reserve_released = 0   # times a reserve was given up to let a checkpoint run (a metric)
        self._admit_checked_at = float("-inf")

    # -- what the service reports -------------------------------------------
    @property
    def refusing(self) -> bool:
        """Packets are refused (not acknowledged) while any store is faulty."""
        return bool(self.faults)

    def admit(self) -> bool:
        """Before a packet is accepted: False while faulty or while a store has less than the headroom
        free (a statvfs per store: microseconds). Checked per packet, not per second, because one
        second of commits can eat a small disk's headroom (only every ADMIT_CHECK_EVERY_S while there is plenty)."""
        now = self._clock()
        if now - self._admit_checked_at < ADMIT_CHECK_EVERY_S:
            return not self.faults
        plenty = True
        for store, path in self.stores.items():
            if store in self.faults:
                continue
            try:
                free = self._free(path.parent)
                if free < 2 * self.min_free_bytes and self._give_back(store):
                    free = self._free(path.parent)
            except OSError:
                continue   # the periodic check says why
            if free < self.min_free_bytes:
                self._enter(store, self._low(free))
            plenty = plenty and free > PLENTY_HEADROOMS * self.min_free_bytes
        if plenty:
            self._admit_checked_at = now
        return not self.faults

    def _give_back(self, store: str) -> bool:
        """Ask ``store`` to give space back (at most every RECLAIM_EVERY_S); True when it was asked."""
        reclaim = self._reclaim.get(store)
        now = self._clock()
        if reclaim is None or now - self._reclaimed_at.get(store, float("-inf")) < RECLAIM_EVERY_S:
            return False
        self._reclaimed_at[store] = now
        try:
            reclaim()
        except Exception as exc:
            # Too full to checkpoint: give the reserve up and try once more; else the fault state says so.
            directory = self.stores[store].parent
            if self.reserve is None or not is_storage_error(exc) or not self.reserve.release(directory):
                return False
            self.reserve_released += 1
            log.warning("storage: %s %s: released the %d-byte reserve (%s) so that the write-ahead log "
                        "can be checkpointed; it is written back before packets are accepted again",
                        store, self.stores[store], self.reserve.size, self.reserve.path(directory))
            try:
                reclaim()
            except Exception:
                return False
        return True

    def ensure_reserves(self) -> None:
        """Write each store directory's reserve where it is missing and the disk has room for it and the
        headroom besides (at start-up, and from ``check`` while nothing is faulty)."""
        if self.reserve is None:
            return
        for directory in {p.parent for p in self.stores.values()}:
            try:
                if not self.reserve.held(directory) and \
                        self._free(directory) >= self.reserve.size + 2 * self.min_free_bytes:
                    self.reserve.make(directory)
            except OSError:
                continue   # the periodic check sees the disk as it is

    def _low(self, free: int) -> str:
        return (f"{free} bytes free, below the {self.min_free_bytes} kept for the database's write-ahead log "
                "(alerts.min_free_bytes)")

    def reason(self) -> str:
        return "; ".join(f"{f.store} {f.path}: {f.cause}" for f in self.faults.values())

    def snapshot(self) -> list[dict]:
        now = self._clock()
        return [{"store": f.store, "path": str(f.path), "cause": f.cause, "for_s": round(now - f.since, 1)}
                for f in self.faults.values()]

    # -- what the service tells it -------------------------------------------
    def failed(self, store: str, exc: BaseException) -> bool:
        """A write to ``store`` failed with ``exc``; True when that is a storage fault (now the state),
        False for any other error (a bug: the caller logs it as such)."""
        if not is_storage_error(exc) or store not in self.stores:
            return False
        self._enter(store, f"{type(exc).__name__}: {exc}")
        return True

    def check(self) -> None:
        """Look at every store: too little free space enters the state; space back (and a probe write
        of the headroom that succeeds) leaves it. Call it every second or so."""
        for store, path in self.stores.items():
            directory = path.parent
            try:
                if store in self.faults or self._free(directory) < 2 * self.min_free_bytes:
                    self._give_back(store)
                free = self._free(directory)
            except OSError as exc:
                self._enter(store, f"cannot read free space: {exc.strerror or exc}")
                continue
            if free < self.min_free_bytes:
                self._enter(store, self._low(free))
                continue
            if store not in self.faults:
                continue
            try:
                if self.reserve is not None and not self.reserve.held(directory):
                    self.reserve.make(directory)   # written back first: it is the probe write too
                    free = self._free(directory)
                    if free < self.min_free_bytes:
                        self._enter(store, self._low(free))
                        continue
                else:
                    self._probe(directory, self.min_free_bytes)
            except OSError as exc:
                self._enter(store, f"probe write failed: {exc.strerror or exc}")
                continue
            fault = self.faults.pop(store)
            log.warning("storage: %s %s can write again after %.0fs; accepting packets again",
                        store, path, self._clock() - fault.since)
        if not self.faults:
            self.ensure_reserves()

    def _enter(self, store: str, cause: str) -> None:
        now = self._clock()
        fault = self.faults.get(store)
        if fault is None:
            fault = self.faults[store] = Fault(store, self.stores[store], cause, now)
            self.entered += 1
        fault.cause = cause
        if fault.logged_at is None or now - fault.logged_at >= self.log_every_s:
            fault.logged_at = now
            log.error("storage: %s %s cannot write (%s); refusing packets (the edges keep them) "
                      "until it can", store, fault.path, cause)
