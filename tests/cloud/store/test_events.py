"""The event store as plain data: stages, images, pagination, filters and retention (SQLite in memory)."""
from cloud.alerts.alert import Alert
from cloud.store.events import SECONDS_PER_DAY, EventFilter, EventStore, image_kind


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


def test_the_objects_stages_join_the_timeline_and_leave_the_description_alone():
    store = EventStore(clock=Clock())
    store.record_alert(_alert(1))
    store.record_alert(_alert(1, "described", description={"summary": "a man cycles", "threat_level": 2}))
    update = Alert(**{**_alert(1, "updated").to_dict(), "sequence": 7, "escalation": "zone", "labels": {"person": 2}})
    store.record_alert(update)
    store.record_alert(update)                                   # resent after a restart: kept once
    store.record_alert(Alert(**{**_alert(1, "ended").to_dict(), "ended_at": 1_000_010.0, "duration_s": 9.0}))
    ev = store.get_event("a1")
    assert [s["stage"] for s in ev["stages"]] == ["detected", "described", "updated", "ended"]
    assert ev["stages"][2]["escalation"] == "zone" and ev["stages"][3]["duration_s"] == 9.0
    assert ev["summary"] == "a man cycles" and ev["status"] == "ok" and ev["threat_level"] == 2
    assert ev["stage"] == "ended" and ev["labels"] == {"person": 1}


def test_a_second_description_replaces_the_events_description_and_joins_the_timeline_once():
    store = EventStore(clock=Clock())
    store.record_alert(_alert(1))
    store.record_alert(_alert(1, "described", description={"summary": "a person", "threat_level": 1}))
    again = Alert(**{**_alert(1, "redescribed", description={"summary": "a person climbs the fence",
                                                          "threat_level": 3}).to_dict(),
                     "sequence": 12, "redescribe_reason": "escalation"})
    store.record_alert(again)
    store.record_alert(again)                                    # resent after a restart: kept once
    ev = store.get_event("a1")
    assert [s["stage"] for s in ev["stages"]] == ["detected", "described", "redescribed"]
    assert ev["stages"][2]["reason"] == "escalation" and ev["stages"][2]["sequence"] == 12
    assert ev["summary"] == "a person climbs the fence" and ev["threat_level"] == 3 and ev["status"] == "ok"


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


def test_review_is_stored_filterable_and_kept_across_stages():
    clock = Clock()
    store = EventStore(clock=clock)
    for n in (1, 2, 3):
        store.record_alert(_alert(n))
    clock.t += 5
    assert store.set_reviewed("a2")["reviewed_at"] == clock.t
    clock.t += 5
    assert store.set_reviewed("a2")["reviewed_at"] == clock.t - 5      # acknowledging again keeps the first time
    store.record_alert(_alert(2, "described", description={"summary": "x", "threat_level": 0}))
    assert store.get_event("a2")["reviewed_at"] == clock.t - 5          # a later stage does not undo the review

    def ids(**kw):
        return [e["alert_id"] for e in store.list_events(EventFilter(**kw))["events"]]
    assert ids(reviewed=True) == ["a2"] and ids(reviewed=False) == ["a3", "a1"]
    assert store.set_reviewed("a2", False)["reviewed_at"] is None and ids(reviewed=True) == []
    assert store.set_reviewed("nope") is None


def test_thumbnail_is_the_image_with_the_best_detection_and_the_best_snapshot_wins():
    store = EventStore(clock=Clock())
    store.record_alert(_alert(1))
    legs = {"label": "person", "score": 0.31, "box": [0, 0, 10, 10]}
    whole = {"label": "person", "score": 0.92, "box": [5, 5, 40, 60]}
    store.add_image("a1", "semantic_frame", b"\xff\xd8a", 64, 48, [legs])
    best = store.add_image("a1", "evidence", b"\xff\xd8b", 64, 48, [whole, legs])
    store.add_image("a1", "semantic_frame", b"\xff\xd8c", 64, 48, [])
    ev = store.get_event("a1")
    assert ev["thumbnail_id"] == best and ev["thumbnail_box"]["score"] == 0.92
    assert store.image_boxes(best)[0]["box"] == [5.0, 5.0, 40.0, 60.0]
    snap = store.add_image("a1", image_kind("semantic_frame", "end"), b"\xff\xd8d", 64, 48, [legs])
    assert store.get_event("a1")["thumbnail_id"] == snap
    assert image_kind("semantic_frame", "update") == "semantic_frame" and image_kind("evidence", "end") == "evidence"


def test_a_store_written_before_review_and_boxes_gains_the_columns(tmp_path):
    import sqlite3
    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE events (alert_id TEXT PRIMARY KEY, edge_id TEXT NOT NULL, camera_id TEXT NOT NULL, "
        "event_id TEXT NOT NULL, onset REAL NOT NULL, updated REAL NOT NULL, stage TEXT NOT NULL, "
        "status TEXT NOT NULL, severity REAL NOT NULL, threat_level INTEGER, summary TEXT NOT NULL DEFAULT '', "
        "labels TEXT NOT NULL, hints TEXT NOT NULL, description TEXT, stages TEXT NOT NULL, size INTEGER NOT NULL DEFAULT 0);"
        "CREATE TABLE images (image_id INTEGER PRIMARY KEY AUTOINCREMENT, alert_id TEXT NOT NULL REFERENCES "
        "events(alert_id) ON DELETE CASCADE, kind TEXT NOT NULL, created REAL NOT NULL, width INTEGER NOT NULL, "
        "height INTEGER NOT NULL, jpeg BLOB NOT NULL, size INTEGER NOT NULL);"
        "INSERT INTO events VALUES ('a0','e','cam','ev0',1,1,'detected','pending',0.5,NULL,'','{}','{}',NULL,'[]',0);"
        "INSERT INTO images (alert_id, kind, created, width, height, jpeg, size) VALUES ('a0','evidence',1,2,2,x'ffd8',2);")
    old.commit()
    old.close()
    store = EventStore(path, clock=Clock())
    ev = store.set_reviewed("a0")
    assert ev["reviewed_at"] is not None and ev["images"][0]["boxes"] == [] and ev["model"] is None


def test_a_description_stored_before_the_narrative_existed_still_loads():
    from cloud.answer.schema import EventDescription

    store = EventStore(clock=Clock())
    old = {"summary": "far right", "threat_level": 0, "objects": [{"label": "green dog", "count": 2}],
           "action": "moving right"}
    store.record_alert(_alert(1, "described", description=old))
    ev = store.get_event("a1")
    assert ev["description"] == old and ev["summary"] == "far right"
    assert EventDescription.model_validate(ev["description"]).narrative == ""
    store.record_alert(_alert(2, "described", description={**old, "narrative": "Two green dogs run right."}))
    assert store.get_event("a2")["description"]["narrative"] == "Two green dogs run right."
