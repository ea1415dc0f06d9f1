"""SIGTERM with packets still queued after the flush window: they go to the DAT spool on disk (for the
next start), not away with the process."""
import asyncio
import os
import signal

from edge.cli import run_until_signal
from edge.transmit.base import OutgoingItem
from edge.transmit.dat import DatConfig, make_dat_policy
from vigil.v1 import vigil_pb2 as pb


class _StuckAgent:
    """An agent whose link never drains: its run ends only when cancelled."""

    def __init__(self, policy):
        self.policy = policy

    async def run(self):
        await asyncio.Event().wait()

    def stop(self):
        pass

    def summary(self):
        return "summary"


def test_what_is_queued_at_shutdown_goes_to_the_spool(tmp_path):
    import numpy as np
    policy = make_dat_policy(DatConfig(spool_dir=tmp_path / "spool"))
    image = np.zeros((120, 160, 3), np.uint8)
    policy.offer(OutgoingItem(camera_id="c1", event_id="ev1", priority=pb.SEMANTIC_FRAME, image=image,
                              capture_time=1.0, event_onset=1.0, detections=[], hints={"event_stage": "new"},
                              severity=0.5), 1.0)
    sent = policy.next_packet(1.0)                     # one in flight, unacknowledged; the rest queued
    assert sent is not None and policy.pending() > 0

    async def go():
        loop = asyncio.get_running_loop()
        loop.call_later(0.2, os.kill, os.getpid(), signal.SIGTERM)
        return await run_until_signal(_StuckAgent(policy), flush_s=0.3)
    assert asyncio.run(go()) == "summary"
    on_disk = {pb.FramePacket.FromString(p.read_bytes()).sequence for p in (tmp_path / "spool").glob("*.pkt")}
    assert sent.sequence in on_disk and len(on_disk) == 3   # alert, semantic frame, evidence: all kept
