"""`vigil-cloud --dead-letters list|replay`: what could not be delivered, and sending it again.

Works on the outbox file while a cloud runs (SQLite WAL allows a second connection): replayed
deliveries become pending, and the running dispatcher picks them up within its poll interval.
"""
from __future__ import annotations

import json
import sys
import time

from cloud.alerts.outbox import Outbox


def run(cfg, action: str, sink: str | None = None, alert_id: str | None = None, out=sys.stdout) -> int:
    path = cfg.alerts.outbox_path
    if path is None:
        print("vigil-cloud: alerts.outbox_path is null (in-memory outbox): no dead letters to read", file=sys.stderr)
        return 2
    if not path.exists():
        print(f"vigil-cloud: no outbox at {path}", file=sys.stderr)
        return 2
    box = Outbox(path)
    try:
        if action == "list":
            letters = [d for d in box.dead_letters(sink) if alert_id is None or d.alert.alert_id == alert_id]
            for d in letters:
                print(json.dumps({"id": d.stage_id, "sink": d.sink, "alert_id": d.alert.alert_id,
                                  "stage": d.alert.stage, "camera_id": d.alert.camera_id,
                                  "committed": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(d.created)),
                                  "attempts": d.attempts, "error": d.last_error}), file=out)
            print(f"{len(letters)} dead letters", file=sys.stderr)
        else:
            n = box.replay_dead(sink, alert_id)
            print(f"{n} dead letters pending again", file=out)
    finally:
        box.close()
    return 0
