"""DAT benchmark metrics from records (no links, no processes): evidence timed from onset, the
evidence rule per policy, frame sizes and JPEG quality read back from the bytes."""
import cv2
import numpy as np

from benchmarks.netlink.jpeg_quality import jpeg_quality
from benchmarks.netlink.metrics import aggregate, event_records, run_metrics
from vigil.v1 import vigil_pb2 as pb


def test_jpeg_quality_is_read_back_from_the_quantisation_table():
    img = np.random.default_rng(0).integers(0, 255, (40, 56, 3), dtype=np.uint8)
    for q in (20, 35, 50, 75, 90):
        assert jpeg_quality(cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, q])[1].tobytes()) == q
    assert jpeg_quality(b"") is None and jpeg_quality(b"not a jpeg") is None


def _pkt(cam, ev, prio, recv, width=640, cropped=False, jpeg=1000):
    return {"camera_id": cam, "sequence": 0, "event_id": ev, "priority": prio, "bytes": jpeg + 50,
            "jpeg_bytes": jpeg, "width": width, "height": 272, "jpeg_quality": 60, "cropped": cropped,
            "source_width": 640, "first_sent": recv - 0.1, "receive_time": recv}


def _run(policy, packets, described_at=10.5):
    events = [{"camera_id": "c", "event_id": "e", "onset": 10.0, "severity": 1.0, "label": "person"}]
    edge = {"policy": policy, "t0": 0.0, "events": events, "packets": packets, "timed_out": False,
            "client": {"bytes_sent": 5000}, "pending_at_end": 0}
    alerts = [{"stage": "described", "camera_id": "c", "event_id": "e", "emitted_at": described_at,
               "status": "ok"}] if described_at else []
    return {"edge": edge, "alerts": alerts}


def test_dat_evidence_is_its_evidence_packet_timed_from_onset():
    run = _run("dat", [_pkt("c", "e", pb.ALERT_METADATA, 10.1, width=0, jpeg=0),
                       _pkt("c", "e", pb.SEMANTIC_FRAME, 10.2, width=224, cropped=True),
                       _pkt("c", "e", pb.EVIDENCE, 11.5, width=480)])
    [e] = event_records(run)
    assert e["delay_s"] == 0.5 and e["semantic"]["width"] == 224 and e["semantic"]["from_onset_s"] == 0.2
    assert e["evidence"]["width"] == 480 and e["evidence"]["from_onset_s"] == 1.5
    agg = aggregate([run_metrics(run)])
    assert agg["evidence_within_1s"] == 0.0 and agg["evidence_min_width_640px_clip"] == 480


def test_fifo_evidence_is_its_first_whole_frame_and_a_lost_alert_counts():
    run = _run("fifo_adaptive", [_pkt("c", "e", pb.SEMANTIC_FRAME, 10.3, width=256)], described_at=None)
    [e] = event_records(run)
    assert e["evidence"]["width"] == 256 and e["evidence"]["from_onset_s"] == 0.3 and not e["described"]
    agg = aggregate([run_metrics(run)])
    assert agg["alerts_lost"] == 1 and agg["evidence_within_1s"] == 1.0 and agg["weighted_delay_s"] is None
