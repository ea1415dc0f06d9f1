"""The event store as plain data: stages, images, pagination, filters and retention (SQLite in memory)."""
from cloud.alerts.alert import Alert
from cloud.store.events import SECONDS_PER_DAY, EventFilter, EventStore


class Clock:
    def __init__(self, t=1_000_000.0):
        self.t = t

    def __call__(self):
        return self.t


def _alert(n, stage="detected", camera="cam-1", labels=None, severity=0.5, onset=None, description=None):
    return Alert(alert_id=f"a{n}", stage=stage, edge_id="e", camera_id=camera, event_id=f"ev{n}",
                 event_onset=onset if onset is not None else 1_000_000.0 + n, labels=labels or {"person": 1},
                 detections=[], severity=severity, description=description,
                 description_status="ok" if description else "pending")


def test_stages_accumulate_under_one_event():
    store = EventStore(clock=Clock())
    store.record_alert(_alert(1))
    store.record_alert(_alert(1, "described", description={"summary": "a man cycles", "threat_level": 2}))
    ev = store.get_event("a1")
    assert [s["stage"] for s in ev["stages"]] == ["detected", "described"]
    assert ev["summary"] == "a man cycles" and ev["threat_level"] == 2 and ev["status"] == "ok"


def test_images_by_id_and_thumbnail_prefers_the_semantic_frame():
    store = EventStore(clock=Clock())
    store.record_alert(_alert(1))
    sem = store.add_image("a1", "semantic_frame", b"\xff\xd8sem", 64, 48)
    evid = store.add_image("a1", "evidence", b"\xff\xd8evi", 640, 480)
    assert store.add_image("unknown", "evidence", b"x", 1, 1) is None
    assert store.get_image(evid) == b"\xff\xd8evi"
    assert store.get_event("a1")["thumbnail_id"] == sem


def test_pagination_walks_every_event_once_newest_first():
    store = EventStore(clock=Clock())
    for n in range(7):
        store.record_alert(_alert(n))
    seen, offset = [], 0
    while offset is not None:
        page = store.list_events(limit=3, offset=offset)
        seen += [e["alert_id"] for e in page["events"]]
        offset = page["next_offset"]
        assert page["total"] == 7
    assert seen == [f"a{n}" for n in reversed(range(7))]


def test_filters_camera_label_severity_and_time():
    store = EventStore(clock=Clock())
    store.record_alert(_alert(1, camera="door", labels={"person": 2}, severity=0.9))
    store.record_alert(_alert(2, camera="yard", labels={"car": 1}, severity=0.2))
    store.record_alert(_alert(3, camera="door", labels={"car": 1}, severity=0.4))

    def ids(**kw):
        return [e["alert_id"] for e in store.list_events(EventFilter(**kw))["events"]]

    assert ids(camera_id="door") == ["a3", "a1"]
    assert ids(label="car") == ["a3", "a2"]
    assert ids(min_severity=0.5) == ["a1"]
    assert ids(since=1_000_002.0) == ["a3", "a2"] and ids(until=1_000_002.0) == ["a1"]


def test_retention_by_age_deletes_events_and_their_images():
    clock = Clock()
    store = EventStore(retention_days=1, clock=clock)
    store.record_alert(_alert(1, onset=clock.t - 2 * SECONDS_PER_DAY))
    old_img = store.add_image("a1", "evidence", b"x" * 100, 1, 1)
    store.record_alert(_alert(2, onset=clock.t))
    assert store.apply_retention() == 1
    assert store.get_event("a1") is None and store.get_image(old_img) is None
    assert store.get_event("a2") is not None


def test_retention_by_bytes_deletes_oldest_first():
    store = EventStore(retention_bytes=30_000, clock=Clock())
    for n in range(5):
        store.record_alert(_alert(n))
        store.add_image(f"a{n}", "evidence", b"x" * 10_000, 1, 1)
    store.apply_retention()
    assert store.bytes_used() <= 30_000
    left = [e["alert_id"] for e in store.list_events()["events"]]
    assert left == ["a4", "a3"]


def test_listeners_see_every_change():
    store = EventStore(clock=Clock())
    seen = []
    store.listeners.append(lambda ev: seen.append((ev["alert_id"], ev["stage"], len(ev["images"]))))
    store.record_alert(_alert(1))
    store.add_image("a1", "semantic_frame", b"j", 1, 1)
    assert seen == [("a1", "detected", 0), ("a1", "detected", 1)]


def test_file_store_survives_reopen(tmp_path):
    path = tmp_path / "vigil.sqlite3"
    EventStore(path, clock=Clock()).record_alert(_alert(1))
    assert EventStore(path, clock=Clock()).get_event("a1")["event_id"] == "ev1"


def test_a_failing_store_loses_the_picture_not_the_packet():
    from cloud.api.live import LiveState
    store = EventStore(clock=Clock())
    store.record_alert(_alert(1))
    store.close()                       # every write now raises sqlite3.ProgrammingError
    LiveState(store).on_event_image("a1", "evidence", b"j", 1, 1)   # logged, not raised
