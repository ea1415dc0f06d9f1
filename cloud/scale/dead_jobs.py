"""`vigil-cloud --dead-jobs list|replay`: the jobs workers gave up on (``scale.max_deliveries``), and
queueing them again once the cause is fixed.

A job lands in ``<prefix>:jobs:dead`` after it was handed out ``max_deliveries`` times without
finishing (it crashed its workers, or they crashed under it). It is kept there, never dropped;
``replay`` moves each back onto the job stream (past the gateways' de-duplication, which already
knows its key), where the workers take it like any other job.
"""
from __future__ import annotations

import json
import sys

from cloud.scale.redis_checks import connect_sync
from vigil.v1 import vigil_pb2 as pb

SCAN_BATCH = 500   # dead jobs read per XRANGE call


def _entries(r, key: str):
    start = "-"
    while True:
        batch = r.xrange(key, min=start, max="+", count=SCAN_BATCH)
        yield from batch
        if len(batch) < SCAN_BATCH:
            return
        start = "(" + batch[-1][0].decode()


def run(cfg, action: str, out=sys.stdout) -> int:
    prefix = cfg.scale.prefix
    dead_key, jobs_key = f"{prefix}:jobs:dead", f"{prefix}:jobs"
    r = connect_sync(cfg.scale.redis_url)
    try:
        if action == "list":
            n = 0
            for entry_id, fields in _entries(r, dead_key):
                pkt = pb.FramePacket()
                pkt.ParseFromString(fields[b"pkt"])
                print(json.dumps({"id": entry_id.decode(), "job": fields.get(b"entry", b"").decode(),
                                  "edge_id": fields[b"edge"].decode(), "camera_id": pkt.camera_id,
                                  "sequence": pkt.sequence, "event_id": pkt.event_id,
                                  "priority": pb.PriorityClass.Name(pkt.priority)}), file=out)
                n += 1
            print(f"{n} dead jobs", file=sys.stderr)
        else:
            n = 0
            for entry_id, fields in list(_entries(r, dead_key)):
                with r.pipeline(transaction=True) as p:
                    p.xadd(jobs_key, {k: v for k, v in fields.items() if k != b"entry"})
                    p.xdel(dead_key, entry_id)
                    p.execute()
                n += 1
            print(f"{n} dead jobs queued again", file=out)
    finally:
        r.close()
    return 0
