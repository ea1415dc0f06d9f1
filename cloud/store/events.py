"""SQLite event store: one row per alert (its stages, description, status), images beside it.
The object's stages (``updated`` on an escalation, ``ended`` when it left) join the event's
timeline (``stages``) and leave its description alone; a stage recorded twice is kept once.

Shaped after Frigate's events table (one row per tracked object, a snapshot and clips beside it),
with what Frigate lacks: the model's description next to the frames it was made from and the
edge's hints. One writer (the cloud's event loop); WAL so readers never block it.
Retention: by age (``retention_days``) and by size (``retention_bytes``, oldest events first);
an event's images go with it. Times are Unix seconds from an injected clock.
Review: an operator acknowledges an event (``reviewed_at``), as Frigate's review items are marked
reviewed; the list filters on it. Each image keeps the edge's boxes in its own pixels, so the page
draws them and the thumbnail shows the object: the event's best snapshot when the edge sent one,
else the image holding the highest-scoring detection.
"""
from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

SECONDS_PER_DAY = 86_400
MAX_PAGE = 200  # largest page the API hands out; bigger requests are clamped
# Bytes one event row is counted as, besides its JSON (indexes, row overhead): a rough, stated constant.
ROW_OVERHEAD_BYTES = 256

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
  alert_id TEXT PRIMARY KEY,
  edge_id TEXT NOT NULL, camera_id TEXT NOT NULL, event_id TEXT NOT NULL,
  onset REAL NOT NULL, updated REAL NOT NULL,
  stage TEXT NOT NULL, status TEXT NOT NULL, severity REAL NOT NULL,
  threat_level INTEGER, summary TEXT NOT NULL DEFAULT '',
  labels TEXT NOT NULL, hints TEXT NOT NULL, description TEXT, stages TEXT NOT NULL,
  size INTEGER NOT NULL DEFAULT 0, reviewed_at REAL, model TEXT);
CREATE INDEX IF NOT EXISTS events_onset ON events(onset);
CREATE INDEX IF NOT EXISTS events_camera ON events(camera_id, onset);
CREATE TABLE IF NOT EXISTS images (
  image_id INTEGER PRIMARY KEY AUTOINCREMENT,
  alert_id TEXT NOT NULL REFERENCES events(alert_id) ON DELETE CASCADE,
  kind TEXT NOT NULL, created REAL NOT NULL, width INTEGER NOT NULL, height INTEGER NOT NULL,
  jpeg BLOB NOT NULL, size INTEGER NOT NULL, boxes TEXT NOT NULL DEFAULT '[]');
CREATE INDEX IF NOT EXISTS images_alert ON images(alert_id, created);
"""
# Columns added after the first release: a store file written before them gains them at open.
ADDED_COLUMNS = (("events", "reviewed_at", "REAL"), ("events", "model", "TEXT"),
                 ("images", "boxes", "TEXT NOT NULL DEFAULT '[]'"))
# Alert stages that follow the object (docs/events.md), not its description.
LIFECYCLE_STAGES = ("updated", "ended")
# The edge's best view of an event's object, when it sends one; preferred for the thumbnail.
BEST_SNAPSHOT_KIND = "best_snapshot"


def _lifecycle(alert) -> dict:
    """What an ``updated`` or ``ended`` stage adds to the event's timeline."""
    if alert.stage == "updated":
        return {"escalation": alert.escalation, "sequence": alert.sequence}
    if alert.stage == "ended":
        return {"ended_at": alert.ended_at, "duration_s": alert.duration_s, "merged_into": alert.merged_into}
    if alert.stage == "redescribed":   # a second description (it replaces the event's description)
        return {"reason": alert.redescribe_reason, "sequence": alert.sequence}
    return {}


def image_kind(priority: str, event_stage: str) -> str:
    """How an event image is filed: by its packet's priority class (``semantic_frame``, ``evidence``,
    ...), except the semantic frame the edge sends when the object's track ends, which carries the
    event's best key frame: that is its best snapshot."""
    return BEST_SNAPSHOT_KIND if priority == "semantic_frame" and event_stage == "end" else priority


def _migrate(db: sqlite3.Connection) -> None:
    for table, column, decl in ADDED_COLUMNS:
        have = {r[1] for r in db.execute(f"PRAGMA table_info({table})")}
        if column not in have:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")


def best_box(boxes: list[dict]) -> dict | None:
    """The highest-scoring detection of an image (None when it has none)."""
    return max(boxes, key=lambda b: float(b.get("score", 0.0)), default=None)


def thumbnail(images: list[dict]) -> tuple[dict | None, dict | None]:
    """(image, box) that shows the event's object: the best snapshot, else the image whose best
    detection scores highest, else the latest semantic frame or image (no box)."""
    best = [i for i in images if i["kind"] == BEST_SNAPSHOT_KIND]
    if best:
        return best[-1], best_box(best[-1]["boxes"])
    boxed = [(best_box(i["boxes"]), i) for i in images if i["boxes"]]
    if boxed:
        box, image = max(boxed, key=lambda bi: float(bi[0].get("score", 0.0)))
        return image, box
    semantic = [i for i in images if i["kind"] == "semantic_frame"]
    return (semantic or images or [None])[-1], None


@dataclass(frozen=True)
class EventFilter:
    camera_id: str | None = None
    label: str | None = None
    min_severity: float | None = None
    since: float | None = None
    until: float | None = None
    reviewed: bool | None = None        # None: both; True: acknowledged only; False: still to review

    def where(self) -> tuple[str, list[Any]]:
        clauses, args = [], []
        if self.camera_id:
            clauses.append("camera_id = ?"); args.append(self.camera_id)
        if self.label:
            clauses.append("EXISTS (SELECT 1 FROM json_each(events.labels) WHERE key = ?)"); args.append(self.label)
        if self.min_severity is not None:
            clauses.append("severity >= ?"); args.append(self.min_severity)
        if self.since is not None:
            clauses.append("onset >= ?"); args.append(self.since)
        if self.until is not None:
            clauses.append("onset < ?"); args.append(self.until)
        if self.reviewed is not None:
            clauses.append("reviewed_at IS NOT NULL" if self.reviewed else "reviewed_at IS NULL")
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", args


def _plain_box(d: dict) -> dict:
    """What the page needs of a detection: label, score and the box (rounded pixels)."""
    return {"label": str(d.get("label", "")), "score": round(float(d.get("score", 0.0)), 3),
            "box": [round(float(v), 1) for v in d["box"]]}


class EventStore:
    def __init__(self, path: str | Path | None = None, *, retention_days: float = 14.0,
                 retention_bytes: int = 2 << 30, max_images_per_event: int = 16,
                 clock: Callable[[], float] = time.time):
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(str(path) if path is not None else ":memory:", check_same_thread=False,
                                  isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        self.db.executescript(SCHEMA)
        _migrate(self.db)
        self.retention_days = retention_days
        self.retention_bytes = retention_bytes
        self.max_images_per_event = max_images_per_event
        self.clock = clock
        self.listeners: list[Callable[[dict], None]] = []

    @classmethod
    def from_config(cls, cfg) -> "EventStore":
        return cls(cfg.path, retention_days=cfg.retention_days, retention_bytes=cfg.retention_bytes,
                   max_images_per_event=cfg.max_images_per_event)

    def close(self) -> None:
        self.db.close()

    # -- writes ---------------------------------------------------------------
    def record_alert(self, alert) -> dict:
        """Insert or update the event of one alert stage; listeners get the event as the API shows it."""
        now = self.clock()
        row = self.db.execute("SELECT stages FROM events WHERE alert_id = ?", (alert.alert_id,)).fetchone()
        stages = json.loads(row["stages"]) if row else []
        key = alert.idempotency_key
        if any(s.get("id", f"{alert.alert_id}.{s['stage']}") == key for s in stages):
            return self.get_event(alert.alert_id)   # a stage recorded before (a resent packet after a restart)
        entry = {"stage": alert.stage, "status": alert.description_status, "at": now,
                 "error": alert.description_error, "id": key}
        stages.append({**entry, **_lifecycle(alert)})
        if row and alert.stage in LIFECYCLE_STAGES:
            # The object's stages add to the timeline; the description, labels and hints stay as they are.
            values = dict(updated=now, stage=alert.stage, stages=json.dumps(stages), alert_id=alert.alert_id)
            self.db.execute("UPDATE events SET updated = :updated, stage = :stage, stages = :stages, "
                            "size = size + :grow WHERE alert_id = :alert_id",
                            {**values, "grow": len(json.dumps(stages[-1]))})
            event = self.get_event(alert.alert_id)
            self._publish(event)
            return event
        desc = alert.description or {}
        values = dict(alert_id=alert.alert_id, edge_id=alert.edge_id, camera_id=alert.camera_id,
                      event_id=alert.event_id, onset=float(alert.event_onset), updated=now, stage=alert.stage,
                      status=alert.description_status, severity=float(alert.severity),
                      threat_level=desc.get("threat_level"), summary=str(desc.get("summary", "")),
                      labels=json.dumps(alert.labels), hints=json.dumps(alert.hints),
                      description=json.dumps(alert.description) if alert.description is not None else None,
                      stages=json.dumps(stages))
        if alert.model is not None:  # who described it (the described stage carries it)
            values["model"] = json.dumps(alert.model)
        values["size"] = ROW_OVERHEAD_BYTES + sum(len(str(v)) for v in values.values())
        cols = ", ".join(values)
        marks = ", ".join(f":{k}" for k in values)
        update = ", ".join(f"{k} = excluded.{k}" for k in values if k not in ("alert_id", "onset"))
        self.db.execute(f"INSERT INTO events ({cols}) VALUES ({marks}) ON CONFLICT(alert_id) DO UPDATE SET {update}",
                        values)
        event = self.get_event(alert.alert_id)
        self._publish(event)
        return event

    def add_image(self, alert_id: str, kind: str, jpeg: bytes, width: int, height: int,
                  boxes: list[dict] = ()) -> int | None:
        """Keep one image of an event (kind: semantic_frame, evidence, ...) with the edge's detections in
        its pixels (``{"label", "score", "box": [x1, y1, x2, y2]}``); None when the event is unknown."""
        if self.db.execute("SELECT 1 FROM events WHERE alert_id = ?", (alert_id,)).fetchone() is None:
            return None
        cur = self.db.execute("INSERT INTO images (alert_id, kind, created, width, height, jpeg, size, boxes) "
                              "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                              (alert_id, kind, self.clock(), width, height, jpeg, len(jpeg),
                               json.dumps([_plain_box(b) for b in boxes])))
        self.db.execute("DELETE FROM images WHERE image_id IN (SELECT image_id FROM images WHERE alert_id = ? "
                        "ORDER BY created DESC, image_id DESC LIMIT -1 OFFSET ?)",
                        (alert_id, self.max_images_per_event))
        image_id = int(cur.lastrowid)
        event = self.get_event(alert_id)
        if event is not None:
            self._publish(event)
        return image_id

    def set_reviewed(self, alert_id: str, reviewed: bool = True) -> dict | None:
        """Acknowledge an event (or take the acknowledgement back); the event, or None when unknown.
        Acknowledging twice keeps the first time."""
        stamp = "COALESCE(reviewed_at, ?)" if reviewed else "NULL"
        args = [self.clock(), alert_id] if reviewed else [alert_id]
        if self.db.execute(f"UPDATE events SET reviewed_at = {stamp} WHERE alert_id = ?", args).rowcount == 0:
            return None
        event = self.get_event(alert_id)
        self._publish(event)
        return event

    def _publish(self, event: dict | None) -> None:
        for listener in list(self.listeners):
            listener(event)

    # -- retention ------------------------------------------------------------
    def bytes_used(self) -> int:
        (img,) = self.db.execute("SELECT COALESCE(SUM(size), 0) FROM images").fetchone()
        (ev,) = self.db.execute("SELECT COALESCE(SUM(size), 0) FROM events").fetchone()
        return int(img) + int(ev)

    def apply_retention(self) -> int:
        """Delete events past the age limit, then the oldest while over the size limit; returns how many."""
        cutoff = self.clock() - self.retention_days * SECONDS_PER_DAY
        deleted = self.db.execute("DELETE FROM events WHERE onset < ?", (cutoff,)).rowcount
        while self.bytes_used() > self.retention_bytes:
            row = self.db.execute("SELECT alert_id FROM events ORDER BY onset, alert_id LIMIT 1").fetchone()
            if row is None:
                break
            self.db.execute("DELETE FROM events WHERE alert_id = ?", (row["alert_id"],))
            deleted += 1
        return deleted

    # -- reads ----------------------------------------------------------------
    def _event(self, row: sqlite3.Row, with_stages: bool) -> dict:
        images = [{**dict(r), "boxes": json.loads(r["boxes"])} for r in self.db.execute(
            "SELECT image_id, kind, created, width, height, size, boxes FROM images WHERE alert_id = ? "
            "ORDER BY created, image_id", (row["alert_id"],))]
        out = {k: row[k] for k in ("alert_id", "edge_id", "camera_id", "event_id", "onset", "updated", "stage",
                                   "status", "severity", "threat_level", "summary")}
        out["labels"] = json.loads(row["labels"])
        out["hints"] = json.loads(row["hints"])
        out["description"] = json.loads(row["description"]) if row["description"] else None
        out["images"] = images
        out["reviewed_at"] = row["reviewed_at"]
        out["model"] = json.loads(row["model"]) if row["model"] else None
        thumb, box = thumbnail(images)
        out["thumbnail_id"] = thumb["image_id"] if thumb else None
        out["thumbnail_box"] = box
        if with_stages:
            out["stages"] = json.loads(row["stages"])
        return out

    def list_events(self, flt: EventFilter = EventFilter(), *, limit: int = 50, offset: int = 0) -> dict:
        where, args = flt.where()
        limit = max(1, min(int(limit), MAX_PAGE))
        (total,) = self.db.execute(f"SELECT COUNT(*) FROM events{where}", args).fetchone()
        rows = self.db.execute(f"SELECT * FROM events{where} ORDER BY onset DESC, alert_id LIMIT ? OFFSET ?",
                               [*args, limit, offset]).fetchall()
        nxt = offset + len(rows)
        return {"events": [self._event(r, False) for r in rows], "total": int(total),
                "next_offset": nxt if nxt < total else None}

    def get_event(self, alert_id: str) -> dict | None:
        row = self.db.execute("SELECT * FROM events WHERE alert_id = ?", (alert_id,)).fetchone()
        return self._event(row, True) if row else None

    def get_image(self, image_id: int) -> bytes | None:
        row = self.db.execute("SELECT jpeg FROM images WHERE image_id = ?", (image_id,)).fetchone()
        return bytes(row["jpeg"]) if row else None

    def image_boxes(self, image_id: int) -> list[dict]:
        row = self.db.execute("SELECT boxes FROM images WHERE image_id = ?", (image_id,)).fetchone()
        return json.loads(row["boxes"]) if row else []

    def snapshot_id(self, alert_id: str) -> int | None:
        event = self.get_event(alert_id)
        return event["thumbnail_id"] if event else None

    def cameras(self) -> list[dict]:
        rows = self.db.execute("SELECT camera_id, edge_id, COUNT(*) AS events, MAX(onset) AS last_event "
                               "FROM events GROUP BY camera_id, edge_id ORDER BY camera_id").fetchall()
        return [dict(r) for r in rows]
