"""Store-and-forward spool on disk: what the edge could not send while the cloud was unreachable.

DAT (arXiv 2604.05375) assumes a link that is weak, not absent; a deployed edge also sees outages.
While the uplink is down, encoded packets are written here, one file per packet (written to a
temporary name and renamed, so a crash never leaves half a packet). The spool is bounded in bytes;
when full it evicts context first (oldest first), then evidence, then semantic frames (lowest
severity, then oldest first) and never alert metadata: an alert is a few hundred bytes and is
what the user must not lose, so alerts may exceed the bound (``overflow_bytes`` says by how much).
Replay hands packets back in priority order (class, then severity, then capture time), each
marked ``replayed``; the cloud de-duplicates by (camera, run id, sequence) what it already had.
The files survive a restart of the edge process: a new Spool on the same folder finds them.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from vigil.v1 import vigil_pb2 as pb

_SUFFIX = ".pkt"


@dataclass
class _Entry:
    path: Path
    priority: int
    severity: float
    capture_time: float
    created: int          # insertion counter (tie-break: older first)
    size: int


def _replay_key(e: _Entry) -> tuple:
    return (e.priority if e.priority else pb.CONTEXT, -e.severity, e.capture_time, e.created)


def _evict_key(e: _Entry) -> tuple:
    # evict first: lowest class (CONTEXT=4 highest value), lowest severity, oldest
    return (-(e.priority if e.priority else pb.CONTEXT), e.severity, e.created)


class Spool:
    def __init__(self, directory: str | Path, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self._entries: dict[Path, _Entry] = {}
        self._counter = 0
        self.evicted: dict[int, int] = {}  # priority -> count
        for p in sorted(self.dir.glob("*" + _SUFFIX)):
            try:
                pkt = pb.FramePacket.FromString(p.read_bytes())
            except Exception:  # a corrupt leftover file is dropped, not fatal
                p.unlink(missing_ok=True)
                continue
            self._index(p, pkt, p.stat().st_size)
        for p in self.dir.glob("*.tmp"):
            p.unlink(missing_ok=True)

    def _index(self, path: Path, pkt: pb.FramePacket, size: int) -> _Entry:
        self._counter += 1
        e = _Entry(path, int(pkt.priority), float(pkt.hints.severity), float(pkt.capture_time), self._counter, size)
        self._entries[path] = e
        return e

    @property
    def bytes(self) -> int:
        return sum(e.size for e in self._entries.values())

    @property
    def overflow_bytes(self) -> int:
        return max(0, self.bytes - self.max_bytes)

    def __len__(self) -> int:
        return len(self._entries)

    def count(self, priority: int) -> int:
        return sum(1 for e in self._entries.values() if e.priority == priority)

    def put(self, pkt: pb.FramePacket) -> list[pb.FramePacket]:
        """Store ``pkt``; returns the packets evicted to stay within the bound (may include ``pkt``)."""
        data = pkt.SerializeToString()
        self._counter += 1
        name = f"{self._counter:012d}_{abs(hash((pkt.camera_id, pkt.run_id, pkt.sequence))) % 10**12:012d}"
        path = self.dir / (name + _SUFFIX)
        tmp = self.dir / (name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
        self._index(path, pkt, len(data))
        return self._evict()

    def _evict(self) -> list[pb.FramePacket]:
        out: list[pb.FramePacket] = []
        total = self.bytes
        while total > self.max_bytes:
            candidates = [e for e in self._entries.values() if e.priority != pb.ALERT_METADATA]
            if not candidates:
                break  # only alerts left: keep them all, over the bound
            victim = min(candidates, key=_evict_key)
            out.append(self._take(victim))
            self.evicted[victim.priority] = self.evicted.get(victim.priority, 0) + 1
            total -= victim.size
        return out

    def _take(self, e: _Entry) -> pb.FramePacket:
        pkt = pb.FramePacket.FromString(e.path.read_bytes())
        e.path.unlink(missing_ok=True)
        del self._entries[e.path]
        return pkt

    def pop_next(self) -> pb.FramePacket | None:
        """The most urgent spooled packet (removed from disk), marked ``replayed``."""
        if not self._entries:
            return None
        pkt = self._take(min(self._entries.values(), key=_replay_key))
        pkt.replayed = True
        return pkt

    def replay_all(self) -> list[pb.FramePacket]:
        """Every spooled packet in replay order (one sort, not a scan per packet)."""
        out = []
        for e in sorted(self._entries.values(), key=_replay_key):
            pkt = self._take(e)
            pkt.replayed = True
            out.append(pkt)
        return out
