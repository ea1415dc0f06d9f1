"""The soak's scoring as plain data: what counts as described in time, lost, and where an event sits on a looping clip."""
from benchmarks.soak_scoring import (alerts_by_id, camera_report, events_on_timeline, repeated_labels,
                                     rss_slope_mb_per_h)


def rec(aid, stage, t, cam="cam-1", status=None, reason="", emitted=None, onset=None, ok=True, wid=None, box=None):
    return {"id": wid or f"{aid}.{stage}", "alert_id": aid, "stage": stage, "t": t, "ok": ok, "camera_id": cam,
            "event_id": f"ev-{aid}", "event_onset": onset if onset is not None else t - 0.5,
            "description_status": status or ("pending" if stage == "detected" else "ok"), "timeout_reason": reason,
            "emitted_at": emitted if emitted is not None else t - 0.01,
            "detections": [{"box": box or [0, 0, 10, 10]}]}


def test_in_time_late_timeout_and_lost_are_told_apart():
    records = [rec("a", "detected", 100.0), rec("a", "described", 110.0),                  # ok in time
               rec("b", "detected", 100.0), rec("b", "described", 131.0, status="timeout", reason="deadline"),
               rec("c", "detected", 100.0), rec("c", "described", 105.0, status="timeout", reason="overloaded"),
               rec("d", "detected", 100.0),                                                 # never described: lost
               rec("a", "described", 110.5, wid="a.described"),                             # a repeat, dropped
               rec("e", "detected", 100.0, ok=False)]                                       # bad signature
    alerts, tally = alerts_by_id(records)
    r = camera_report(alerts, "cam-1", deadline_s=30.0)
    assert r["events"] == 4 and r["described_in_time"] == 0.25
    assert r["status"] == {"ok": 1, "timeout": 2} and r["timeout_reasons"] == {"deadline": 1, "overloaded": 1}
    assert r["lost"] == 1 and tally == {"repeats": 1, "bad_signatures": 1}
    assert r["time_to_description_s"]["p50"] == 10.5   # from the edge's onset (t - 0.5)


def test_an_ok_that_reached_the_receiver_past_the_deadline_is_not_in_time():
    alerts, _ = alerts_by_id([rec("a", "detected", 100.0, emitted=100.0),
                              rec("a", "described", 140.0, emitted=129.0)])   # committed in time, delivered late
    assert camera_report(alerts, "cam-1", deadline_s=30.0)["described_in_time"] == 0.0


def test_events_land_on_the_looping_clips_frames_and_labels_repeat_per_loop():
    opened, fps, n = 1000.0, 5.0, 300
    alerts, _ = alerts_by_id([rec("a", "detected", 1000.0, onset=1000.0 + 12 / fps, box=[1, 2, 3, 4]),
                              rec("b", "detected", 1070.0, onset=1000.0 + (n + 7) / fps),
                              rec("c", "detected", 1200.0, onset=1000.0 + (2 * n + 1) / fps)])
    events = events_on_timeline(alerts, "cam-1", opened, fps, last_frame=2 * n - 1)
    assert sorted((e["event_id"], list(e["boxes"])) for e in events) == [("ev-a", [12]), ("ev-b", [n + 7])]
    labels = {"fps": fps, "objects": [{"id": "p1", "label": "person", "frames": [[5, 0, 0, 9, 9, 1.0, True]]}]}
    twice = repeated_labels(labels, 2, n)
    assert [(o["id"], o["frames"][0][0]) for o in twice["objects"]] == [("p1@0", 5), ("p1@1", n + 5)]


def test_rss_slope_ignores_the_warm_up_and_reads_mb_per_hour():
    samples = [(t, 500.0 + (0.0 if t < 60 else (t - 60) / 3600 * 36.0)) for t in range(0, 600, 10)]
    r = rss_slope_mb_per_h(samples)
    assert abs(r["slope_mb_per_h"] - 36.0) < 0.5
