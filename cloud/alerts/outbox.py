"""The durable outbox: every alert stage is committed here before the edge's packet is acknowledged.

The transactional-outbox pattern (Richardson, *Microservices Patterns*, ch. 3): the service
writes what it must deliver into its own store in the same step that accepts the input, and a
separate worker delivers from the store, so a crash between "accepted" and "delivered" loses
nothing. Ours is SQLite in WAL mode (one file, no server; readers never block the writer).

Choices where the pattern leaves room:

* One row per alert stage (``stages``; its ``stage_id`` ``<alert_id>.<stage>``, for an update
  ``<alert_id>.updated.<edge sequence>``, is the idempotency key receivers see, stable across
  retries and restarts) and one row per
  (stage, sink) delivery (``deliveries``: ``pending`` -> ``delivered`` | ``dead``).
* Order per alert and sink: a stage is due only when every earlier stage of the same alert for
  that sink is delivered. When an earlier stage goes dead, the later ones go dead with it
  ("held back") instead of overtaking it; replaying dead letters restores both, in order.
* Dead letters stay in the outbox (listed and replayed by ``vigil-cloud --dead-letters``);
  delivered rows are deleted after ``retain_delivered_s``.
* A delivery's retry budget (``give_up_after_s``, and the attempt count behind the backoff) runs
  from ``budget_from``: the stage's commit, or the replay that made a dead letter pending again.
  Measured from the commit, a replayed letter older than the budget would get one try.
* ``synchronous=NORMAL`` by default: in WAL mode a commit survives a crash of the process
  (SIGKILL), not necessarily a power cut; ``FULL`` also survives the latter at an fsync per commit.
* All calls come from the service's event-loop thread; a commit is tens of microseconds.
"""
from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Literal

from cloud.alerts.alert import Alert

# Delivery order within one alert (``ord``: a stage is due once the alert's lower ones in the outbox are delivered):
# ``detected`` first; each ``updated`` at 1 + the edge packet's sequence, so updates keep the edge's order;
# ``ended`` after every update; ``described`` last, so it waits only for stages already committed and
# never holds back the object's stages: the object's end never waits for a slow description (the
# description may reach a receiver before or after ``ended``; docs/events.md). Each ``redescribed`` comes
# after ``described``, at ``described`` + 1 + the edge packet's sequence, so second descriptions keep the edge's order.
ENDED_ORD = 1 << 62
STAGE_ORDER = {"detected": 0, "updated": 1, "ended": ENDED_ORD, "described": ENDED_ORD + 1,
               "redescribed": ENDED_ORD + 2}
PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"
MAX_ERROR_CHARS = 500   # last error kept per delivery (a receiver's error page can be large)
SyncMode = Literal["normal", "full"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS stages (
    stage_id TEXT PRIMARY KEY,
    alert_id TEXT NOT NULL,
    stage TEXT NOT NULL,
    ord INTEGER NOT NULL,
    body TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS stages_alert ON stages(alert_id, ord);
CREATE TABLE IF NOT EXISTS deliveries (
    stage_id TEXT NOT NULL,
    sink TEXT NOT NULL,
    alert_id TEXT NOT NULL,
    ord INTEGER NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL,
    last_error TEXT NOT NULL DEFAULT '',
    updated REAL NOT NULL,
    budget_from REAL,
    PRIMARY KEY (stage_id, sink)
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries(sink, state, next_at);
CREATE INDEX IF NOT EXISTS deliveries_alert ON deliveries(sink, alert_id, ord);
"""


def stage_id(alert_id: str, stage: str) -> str:
    """The idempotency key of one alert stage (an ``updated`` stage's also names its packet: Alert.idempotency_key)."""
    return f"{alert_id}.{stage}"


def stage_order(alert: Alert) -> int:
    """Where ``alert``'s stage goes in its alert's delivery order (STAGE_ORDER)."""
    order = STAGE_ORDER[alert.stage]
    if alert.stage == "updated":
        return order + min(max(int(alert.sequence), 0), ENDED_ORD - 2)
    if alert.stage == "redescribed":   # kept below 2**63 (SQLite's integers)
        return order + min(max(int(alert.sequence), 0), ENDED_ORD - 3)
    return order


@dataclass
class Delivery:
    stage_id: str
    sink: str
    alert: Alert
    attempts: int
    state: str = PENDING
    last_error: str = ""
    created: float = 0.0
    budget_from: float = 0.0   # when this delivery's retry budget started (commit, or the last replay)


class Outbox:
    def __init__(self, path: str | Path | None, synchronous: SyncMode = "normal",
                 clock: Callable[[], float] = time.time):
        """``path`` None: an in-memory database (tests; nothing survives the process)."""
        self.path = Path(path) if path is not None else None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        self._db = sqlite3.connect(str(self.path) if self.path else ":memory:", isolation_level=None,
                                   check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={synchronous.upper()}")
        self._db.executescript(_SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(deliveries)")}
        if "budget_from" not in columns:   # an outbox written before replays restarted the budget
            self._db.execute("ALTER TABLE deliveries ADD COLUMN budget_from REAL")

    def close(self) -> None:
        self._db.close()

    # -- writing -------------------------------------------------------------
    def add(self, alert: Alert, sinks: Iterable[str]) -> bool:
        """Commit one stage and a pending delivery per sink; False when the stage was already there."""
        now = self._clock()
        sid = alert.idempotency_key
        order = stage_order(alert)
        with self._tx():
            cur = self._db.execute("INSERT OR IGNORE INTO stages VALUES (?,?,?,?,?,?)",
                                   (sid, alert.alert_id, alert.stage, order, alert.to_json().decode(), now))
            if cur.rowcount == 0:
                return False
            for sink in sinks:
                held = self._db.execute(
                    "SELECT stage_id FROM deliveries WHERE sink=? AND alert_id=? AND ord<? AND state=?",
                    (sink, alert.alert_id, order, DEAD)).fetchone()
                state, err = (DEAD, f"held back: earlier stage {held[0]} is a dead letter") if held else (PENDING, "")
                self._db.execute("INSERT OR IGNORE INTO deliveries (stage_id, sink, alert_id, ord, state, attempts, "
                                 "next_at, last_error, updated, budget_from) VALUES (?,?,?,?,?,0,?,?,?,?)",
                                 (sid, sink, alert.alert_id, order, state, now, err, now, now))
        return True

    def delivered(self, sid: str, sink: str) -> None:
        self._update(sid, sink, DELIVERED, attempts_inc=1)

    def retry_later(self, sid: str, sink: str, next_at: float, error: str) -> None:
        self._update(sid, sink, PENDING, attempts_inc=1, next_at=next_at, error=error)

    def dead(self, sid: str, sink: str, error: str) -> None:
        """A dead letter; later stages of the same alert for this sink are held back with it."""
        with self._tx():
            self._update(sid, sink, DEAD, attempts_inc=1, error=error, tx=False)
            alert_id, order = self._db.execute("SELECT alert_id, ord FROM deliveries WHERE stage_id=? AND sink=?",
                                               (sid, sink)).fetchone()
            self._db.execute("UPDATE deliveries SET state=?, last_error=?, updated=? "
                             "WHERE sink=? AND alert_id=? AND ord>? AND state=?",
                             (DEAD, f"held back: earlier stage {sid} is a dead letter", self._clock(),
                              sink, alert_id, order, PENDING))

    def _update(self, sid: str, sink: str, state: str, *, attempts_inc: int = 0, next_at: float | None = None,
                error: str | None = None, tx: bool = True) -> None:
        now = self._clock()
        sql = ("UPDATE deliveries SET state=?, attempts=attempts+?, next_at=COALESCE(?, next_at), "
               "last_error=COALESCE(?, last_error), updated=? WHERE stage_id=? AND sink=?")
        args = (state, attempts_inc, next_at, None if error is None else error[:MAX_ERROR_CHARS], now, sid, sink)
        if tx:
            with self._tx():
                self._db.execute(sql, args)
        else:
            self._db.execute(sql, args)

    def replay_dead(self, sink: str | None = None, alert_id: str | None = None) -> int:
        """Make dead letters pending again with a full new budget: attempts and the give-up clock count
        from now, so the backoff starts at its first step again; returns how many."""
        now = self._clock()
        sql = ("UPDATE deliveries SET state=?, attempts=0, next_at=?, last_error='', updated=?, budget_from=? "
               "WHERE state=?")
        args: list = [PENDING, now, now, now, DEAD]
        if sink:
            sql += " AND sink=?"
            args.append(sink)
        if alert_id:
            sql += " AND alert_id=?"
            args.append(alert_id)
        with self._tx():
            return self._db.execute(sql, args).rowcount

    def checkpoint(self) -> None:
        """Copy the WAL into the database and truncate it: gives its disk space back (after a full disk)."""
        if self._db.in_transaction:   # never checkpoint around a half-done write
            return
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def forget_delivered(self, older_than_s: float) -> int:
        """Delete deliveries done longer ago than ``older_than_s`` and stages nothing refers to."""
        cutoff = self._clock() - older_than_s
        with self._tx():
            n = self._db.execute("DELETE FROM deliveries WHERE state=? AND updated<?", (DELIVERED, cutoff)).rowcount
            self._db.execute("DELETE FROM stages WHERE created<? AND NOT EXISTS "
                             "(SELECT 1 FROM deliveries d WHERE d.stage_id=stages.stage_id)", (cutoff,))
        return n

    # -- reading -------------------------------------------------------------
    def due(self, sink: str, now: float, limit: int, exclude: Iterable[str] = ()) -> list[Delivery]:
        """Pending deliveries for ``sink`` whose time has come and whose earlier stages are delivered
        (``exclude``: stage ids already being sent)."""
        skip = list(exclude)
        rows = self._db.execute(
            "SELECT d.stage_id, s.body, d.attempts, s.created, COALESCE(d.budget_from, s.created) "
            "FROM deliveries d JOIN stages s USING (stage_id) "
            "WHERE d.sink=? AND d.state=? AND d.next_at<=? AND NOT EXISTS (SELECT 1 FROM deliveries p "
            "WHERE p.sink=d.sink AND p.alert_id=d.alert_id AND p.ord<d.ord AND p.state!=?) "
            f"AND d.stage_id NOT IN ({','.join('?' * len(skip))}) "
            "ORDER BY d.rowid LIMIT ?", (sink, PENDING, now, DELIVERED, *skip, limit)).fetchall()
        return [Delivery(sid, sink, Alert(**json.loads(body)), attempts, created=created, budget_from=since)
                for sid, body, attempts, created, since in rows]

    def next_due_at(self, sink: str) -> float | None:
        row = self._db.execute("SELECT MIN(next_at) FROM deliveries WHERE sink=? AND state=?",
                               (sink, PENDING)).fetchone()
        return row[0]

    def deliveries_of(self, alert_id: str) -> list[dict]:
        """Delivery state of each (stage, sink) of one alert, for the operator view (delivered rows go
        after ``retain_delivered_s``)."""
        rows = self._db.execute(
            "SELECT s.stage, d.sink, d.state, d.attempts, d.last_error, d.updated FROM deliveries d "
            "JOIN stages s ON s.stage_id = d.stage_id WHERE d.alert_id=? ORDER BY d.ord, d.sink", (alert_id,)).fetchall()
        return [dict(zip(("stage", "sink", "state", "attempts", "last_error", "updated"), r)) for r in rows]

    def pending_count(self, sinks: Iterable[str] | None = None) -> int:
        return self._count(PENDING, sinks)

    def dead_count(self, sinks: Iterable[str] | None = None) -> int:
        return self._count(DEAD, sinks)

    def _count(self, state: str, sinks: Iterable[str] | None) -> int:
        if sinks is None:
            return self._db.execute("SELECT COUNT(*) FROM deliveries WHERE state=?", (state,)).fetchone()[0]
        names = list(sinks)
        if not names:
            return 0
        marks = ",".join("?" * len(names))
        return self._db.execute(f"SELECT COUNT(*) FROM deliveries WHERE state=? AND sink IN ({marks})",
                                (state, *names)).fetchone()[0]

    def dead_letters(self, sink: str | None = None) -> list[Delivery]:
        sql = ("SELECT d.stage_id, d.sink, s.body, d.attempts, d.last_error, s.created FROM deliveries d "
               "JOIN stages s USING (stage_id) WHERE d.state=?")
        args: list = [DEAD]
        if sink:
            sql += " AND d.sink=?"
            args.append(sink)
        rows = self._db.execute(sql + " ORDER BY d.rowid", args).fetchall()
        return [Delivery(sid, snk, Alert(**json.loads(body)), attempts, DEAD, err, created)
                for sid, snk, body, attempts, err, created in rows]

    def latest_stage(self, alert_id: str) -> Alert | None:
        """The most advanced description stage committed for ``alert_id``, ``detected`` or ``described`` (a
        restarted service must not contradict it; the object's stages do not change what it owes)."""
        row = self._db.execute("SELECT body FROM stages WHERE alert_id=? AND stage IN ('detected', 'described') "
                               "ORDER BY ord DESC LIMIT 1",
                               (alert_id,)).fetchone()
        return Alert(**json.loads(row[0])) if row else None

    def open_alerts(self) -> list[Alert]:
        """Alerts whose ``detected`` stage is committed and whose ``described`` stage is not."""
        rows = self._db.execute(
            "SELECT body FROM stages s WHERE stage='detected' AND NOT EXISTS "
            "(SELECT 1 FROM stages d WHERE d.alert_id=s.alert_id AND d.stage='described') ORDER BY rowid").fetchall()
        return [Alert(**json.loads(b)) for (b,) in rows]

    def sinks_with_pending(self) -> set[str]:
        return {r[0] for r in self._db.execute("SELECT DISTINCT sink FROM deliveries WHERE state=?", (PENDING,))}

    # -- helpers ---------------------------------------------------------------
    def _tx(self):
        return _Transaction(self._db)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error) on an autocommit connection."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self):
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            try:
                self.db.execute("COMMIT")
                return False
            except sqlite3.Error:
                # A COMMIT refused by a full disk leaves the transaction open: every later BEGIN fails and
                # the WAL cannot be checkpointed. Roll it back, then report the refusal.
                self._rollback()
                raise
        self._rollback()
        return False

    def _rollback(self) -> None:
        if self.db.in_transaction:
            try:
                self.db.execute("ROLLBACK")
            except sqlite3.Error:   # SQLite rolled back by itself (it may, on SQLITE_FULL)
                pass
