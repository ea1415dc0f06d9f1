"""The durable outbox as plain data: commits survive reopening, order per alert, dead letters, idempotency."""
from cloud.alerts.alert import Alert
from cloud.alerts.manager import AlertManager
from cloud.alerts.outbox import Outbox
from cloud.answer.event_packet import EventPacket


def _alert(stage="detected", aid="a1", status="pending"):
    return Alert(alert_id=aid, stage=stage, edge_id="e", camera_id="c", event_id="ev", event_onset=1.0,
                 labels={"person": 1}, detections=[], severity=0.5, description_status=status, emitted_at=100.0)


def test_committed_stages_survive_reopening_and_come_out_in_order(tmp_path):
    box = Outbox(tmp_path / "o.db", clock=lambda: 100.0)
    assert box.add(_alert("detected"), ["hook"]) and box.add(_alert("described", status="ok"), ["hook"])
    assert not box.add(_alert("detected"), ["hook"])          # same idempotency key: not committed twice
    box.close()
    box = Outbox(tmp_path / "o.db", clock=lambda: 100.0)
    due = box.due("hook", 100.0, 10)
    assert [d.stage_id for d in due] == ["a1.detected"]      # described waits for detected
    box.retry_later("a1.detected", "hook", 105.0, "HTTP 503")
    assert box.due("hook", 104.0, 10) == []
    assert [d.attempts for d in box.due("hook", 105.0, 10)] == [1]
    box.delivered("a1.detected", "hook")
    assert [d.stage_id for d in box.due("hook", 105.0, 10)] == ["a1.described"]
    assert box.pending_count(["hook"]) == 1


def test_delivered_rows_are_forgotten_after_retention():
    now = [100.0]
    box = Outbox(None, clock=lambda: now[0])
    box.add(_alert(), ["hook"])
    box.delivered("a1.detected", "hook")
    now[0] = 200.0
    assert box.forget_delivered(older_than_s=50) == 1 and box.latest_stage("a1") is None


def test_restarted_manager_neither_realerts_nor_contradicts():
    box = Outbox(None)
    first = AlertManager(lambda a: box.add(a, ["hook"]), describe_deadline_s=30, clock=lambda: 100.0)
    aid, new = first.on_packet(EventPacket(edge_id="e", camera_id="c", event_id="ev", event_onset=1.0, severity=0.5))
    assert new and first.on_description(aid, {"summary": "x"})
    # The process dies; its successor sees the edge's replayed packet.
    emitted = []
    second = AlertManager(emitted.append, describe_deadline_s=30, clock=lambda: 200.0, lookup=box.latest_stage)
    second.restore(box.open_alerts())
    again, new = second.on_packet(EventPacket(edge_id="e", camera_id="c", event_id="ev", event_onset=1.0, severity=0.5))
    assert again == aid and not new
    assert not second.claim_description(aid)            # already described: no second description
    assert second.expire() == 0 and emitted == []       # and no contradictory `timeout`


def test_alert_left_open_by_a_crash_is_finished_by_the_successor():
    box = Outbox(None)
    first = AlertManager(lambda a: box.add(a, ["hook"]), describe_deadline_s=30, clock=lambda: 100.0)
    aid, _ = first.on_packet(EventPacket(edge_id="e", camera_id="c", event_id="ev", event_onset=1.0, severity=0.5))
    emitted = []
    now = [110.0]
    second = AlertManager(emitted.append, describe_deadline_s=30, clock=lambda: now[0], lookup=box.latest_stage)
    assert second.restore(box.open_alerts()) == 1
    assert second.claim_description(aid)               # a replayed semantic frame may still be described
    now[0] = 131.0                                      # ... or the original deadline passes
    assert second.expire() == 1
    assert [(a.stage, a.description_status) for a in emitted] == [("described", "timeout")]


def test_an_outbox_written_before_budget_from_existed_opens_and_budgets_from_the_commit(tmp_path):
    import sqlite3
    from cloud.alerts import outbox as ob
    old = ob._SCHEMA.replace("    budget_from REAL,\n", "")
    db = sqlite3.connect(tmp_path / "o.db")
    db.executescript(old)
    db.execute("INSERT INTO stages VALUES ('a1.detected','a1','detected',0,?,42.0)", (_alert().to_json().decode(),))
    db.execute("INSERT INTO deliveries VALUES ('a1.detected','hook','a1',0,'pending',0,0,'',42.0)")
    db.commit()
    db.close()
    (d,) = ob.Outbox(tmp_path / "o.db").due("hook", 100.0, 10)
    assert d.budget_from == 42.0



def test_a_commit_refused_by_the_disk_leaves_no_transaction_open(tmp_path):
    import sqlite3
    from cloud.alerts.outbox import _Transaction

    class RefusingCommit:
        """A connection whose COMMIT fails as on a full disk (the transaction stays open, as SQLite leaves it)."""

        def __init__(self):
            self.db = sqlite3.connect(":memory:", isolation_level=None)

        @property
        def in_transaction(self):
            return self.db.in_transaction

        def execute(self, sql, *a):
            if sql == "COMMIT":
                raise sqlite3.OperationalError("database or disk is full")
            return self.db.execute(sql, *a)

    conn = RefusingCommit()
    conn.execute("CREATE TABLE t (x)")
    try:
        with _Transaction(conn):
            conn.execute("INSERT INTO t VALUES (1)")
    except sqlite3.OperationalError:
        pass
    assert not conn.in_transaction                     # the next BEGIN IMMEDIATE can run
    with _Transaction(conn.db):
        conn.db.execute("INSERT INTO t VALUES (2)")
    assert conn.db.execute("SELECT x FROM t").fetchall() == [(2,)]
