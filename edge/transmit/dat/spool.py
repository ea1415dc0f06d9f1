"""Store-and-forward spool on disk: what the edge could not send while the cloud was unreachable.

DAT (arXiv 2604.05375) assumes a link that is weak, not absent; a deployed edge also sees outages.
While the uplink is down, encoded packets are written here, one file per packet (written to a
temporary name and renamed, so a crash never leaves half a packet). The spool is bounded in bytes;
when full it evicts context first (oldest first), then evidence, then semantic frames (lowest
severity, then oldest first) and never alert metadata: an alert is a few hundred bytes and is
what the user must not lose, so alerts may exceed the bound (``overflow_bytes`` says by how much).
Replay hands packets back in priority order (class, then severity, then capture time), each
marked ``replayed``; the cloud de-duplicates by (camera, run id, sequence) what it already had.

A file is deleted only when its packet is done: the cloud acknowledged it (``done``), or the
policy dropped it on purpose. Replay does not delete; it marks the entries as handed out, so a
crash at any point of a replay (on a slow uplink that lasts minutes) leaves every packet the cloud
has not acknowledged on disk. A new Spool on the same folder finds them and replays them again;
the cloud acknowledges a resend of what it already kept as a duplicate. The in-memory queue works
the same way: a packet leaves the edge's books on its Ack, not on its send.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from edge.transmit.base import PacketKey, packet_key
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
    key: PacketKey
    handed_out: bool = False   # replayed and not yet acknowledged: the file stays, the policy has the packet


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
        self._entries: dict[PacketKey, _Entry] = {}
        self._counter = 0
        self.evicted: dict[int, int] = {}  # priority -> count
        for p in sorted(self.dir.glob("*" + _SUFFIX)):
            try:
                pkt = pb.FramePacket.FromString(p.read_bytes())
            except Exception:  # a corrupt leftover file is dropped, not fatal
                p.unlink(missing_ok=True)
                continue
            if packet_key(pkt) in self._entries:   # written twice by an older version: one is enough
                p.unlink(missing_ok=True)
                continue
            self._index(p, pkt, p.stat().st_size)
        for p in self.dir.glob("*.tmp"):
            p.unlink(missing_ok=True)

    def _index(self, path: Path, pkt: pb.FramePacket, size: int) -> _Entry:
        self._counter += 1
        e = _Entry(path, int(pkt.priority), float(pkt.hints.severity), float(pkt.capture_time), self._counter,
                   size, packet_key(pkt))
        self._entries[e.key] = e
        return e

    @property
    def bytes(self) -> int:
        return sum(e.size for e in list(self._entries.values()))

    @property
    def overflow_bytes(self) -> int:
        return max(0, self.bytes - self.max_bytes)

    def __len__(self) -> int:
        """Packets on disk, handed out for replay or not."""
        return len(self._entries)

    @property
    def waiting(self) -> int:
        """Packets on disk that no replay has handed out yet."""
        return sum(1 for e in list(self._entries.values()) if not e.handed_out)

    def count(self, priority: int) -> int:
        return sum(1 for e in self._entries.values() if e.priority == priority)

    def put(self, pkt: pb.FramePacket) -> list[pb.FramePacket]:
        """Store ``pkt``; returns the packets evicted to stay within the bound (may include ``pkt``).

        A packet already on disk (handed out by a replay, back because the link dropped again) is
        not written twice: it only waits for the next replay again."""
        known = self._entries.get(packet_key(pkt))
        if known is not None:
            known.handed_out = False
            return []
        data = pkt.SerializeToString()
        self._counter += 1
        name = f"{self._counter:012d}_{abs(hash(packet_key(pkt))) % 10**12:012d}"
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
            # a handed-out packet is on its way; only what waits on disk is evicted
            candidates = [e for e in self._entries.values() if e.priority != pb.ALERT_METADATA and not e.handed_out]
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
        del self._entries[e.key]
        return pkt

    def replay(self) -> list[pb.FramePacket]:
        """Every packet not handed out yet, in replay order, marked ``replayed``. The files stay
        on disk until :meth:`done`, so a crash during the replay loses nothing."""
        out = []
        for e in sorted((e for e in self._entries.values() if not e.handed_out), key=_replay_key):
            pkt = pb.FramePacket.FromString(e.path.read_bytes())
            pkt.replayed = True
            e.handed_out = True
            out.append(pkt)
        return out

    def done(self, key: PacketKey) -> bool:
        """The packet with ``key`` was acknowledged by the cloud (or dropped on purpose): delete its
        file. False when the spool does not hold it (a packet that never went to disk)."""
        e = self._entries.pop(key, None)
        if e is None:
            return False
        e.path.unlink(missing_ok=True)
        return True
