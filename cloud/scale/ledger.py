"""The alert ledger workers share: every alert stage committed once, whichever worker makes it.

Workers may handle packets of one event at the same time, and a claimed job is processed again
by a second worker, so an alert stage can be produced more than once. One Lua script commits a
stage atomically: it sets the stage's marker (``SET NX``, kept ``retain_delivered_s``, as the
outbox keeps delivered stages), appends the stage to ``<prefix>:alerts`` (what the delivery role
reads into the outbox, in commit order, so ``detected`` always precedes ``described``), records
the alert's latest description stage, ``detected`` or ``described`` (what ``AlertManager`` looks up
before treating an event as new) and keeps ``<prefix>:open`` (alerts detected and not yet described, by deadline) so the timeout of an
alert whose worker died is still sent by a survivor. A stage whose marker exists is not
appended: re-processing is harmless, and a late description after a timeout is dropped.

The object's stages (``updated``, one per edge packet, and ``ended``; docs/events.md) are markers and
stream entries only: they change neither what the alert still owes (its latest description stage)
nor its deadline, so an object that ended before its description still gets one, or its timeout.

A second description (``redescribed``, cloud/answer/redescribe_policy.py) is judged against the frame
the alert's latest description was made from. That frame's view is committed with the description
(``<prefix>:view:<alert id>``, set by the ``described`` or ``redescribed`` stage in the same script),
so whichever worker later gets the escalation or end packet compares against it (``view``). Its lease
(``claim_redescription``) is per (alert, edge sequence), ``<alert id>/again/<sequence>``: none while
that ``redescribed`` stage is committed, nor while another worker holds it, so two workers never both
compute one. It lasts as long as the second description may (its deadline): the describe queue never
computes one past it, so it needs no renewal.

One description per alert: a worker handed a frame to describe first takes the alert's describe lease
(``claim_description``: none while the ``described`` stage is committed, nor while another worker holds
the lease). Two workers can get frames of one event at once (its first frame and its end frame); the
loser skips the model and sends no second Result. The holder renews its lease while it describes
(``renew_descriptions``, on its heartbeat) and the lease lapses soon after a dead worker's last beat,
before its job can be claimed, so the survivor that claims the job describes it.

Calls are synchronous on purpose: ``AlertManager`` commits through a plain callable (and keeps an
event new when that raises); a loopback round trip is a fraction of a millisecond.
"""
from __future__ import annotations

import json

import redis

from cloud.alerts.alert import Alert
from cloud.answer.redescribe_policy import FrameView

# KEYS: stage marker, alert's latest stage, open set, alerts stream, the alert's described view.
# ARGV: ttl ms, alert id, stage, body, describe deadline, view ('' when none).
# Returns 1 when committed, 0 when already there.
_COMMIT = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then return 0 end
redis.call('XADD', KEYS[4], '*', 'alert', ARGV[4])
if ARGV[3] == 'detected' then
  redis.call('SET', KEYS[2], ARGV[4], 'NX', 'PX', ARGV[1])
  redis.call('ZADD', KEYS[3], ARGV[5], ARGV[2])
elseif ARGV[3] == 'described' then
  redis.call('SET', KEYS[2], ARGV[4], 'PX', ARGV[1])
  redis.call('ZREM', KEYS[3], ARGV[2])
end
if ARGV[6] ~= '' and (ARGV[3] == 'described' or ARGV[3] == 'redescribed') then
  redis.call('SET', KEYS[5], ARGV[6], 'PX', ARGV[1])
end
return 1
"""

# KEYS: the alert's `described` marker, its describe lease. ARGV: holder, lease ms.
# Returns 1 when the caller holds the lease (taken now, or renewed: it already held it), else 0.
_CLAIM = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local holder = redis.call('GET', KEYS[2])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
return 1
"""
# KEYS: describe lease. ARGV: holder, lease ms. Extends only a lease the holder still holds (a lapsed
# one may be another worker's by now). No release: the `described` marker ends the lease's purpose.
_RENEW = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('PEXPIRE', KEYS[1], ARGV[2])
"""


class AlertLedger:
    def __init__(self, client: redis.Redis, prefix: str, retain_s: float, describe_deadline_s: float):
        self.r = client
        self.prefix = prefix
        self.alerts_key = f"{prefix}:alerts"
        self.open_key = f"{prefix}:open"
        self.retain_ms = int(retain_s * 1000)
        self.describe_deadline_s = describe_deadline_s
        self._commit = client.register_script(_COMMIT)
        self._claim = client.register_script(_CLAIM)
        self._renew = client.register_script(_RENEW)

    def commit(self, alert: Alert, view: FrameView | None = None) -> bool:
        """Commit one stage; False when it was committed before (by any worker). ``view``: for a
        ``described`` or ``redescribed`` stage, the frame the description was made from."""
        marker = self._stage_key(alert.idempotency_key)
        latest = f"{self.prefix}:alert:{alert.alert_id}"
        deadline = alert.emitted_at + self.describe_deadline_s
        seen = json.dumps({"labels": view.labels, "quality": view.quality}) if view is not None else ""
        return bool(self._commit(keys=[marker, latest, self.open_key, self.alerts_key, self._view_key(alert.alert_id)],
                                 args=[self.retain_ms, alert.alert_id, alert.stage, alert.to_json(), repr(deadline),
                                       seen]))

    def view(self, alert_id: str) -> FrameView | None:
        """The view of the frame the alert's latest description was made from (None when unknown)."""
        body = self.r.get(self._view_key(alert_id))
        if not body:
            return None
        d = json.loads(body)
        return FrameView(labels=tuple((str(k), int(n)) for k, n in d["labels"]), quality=float(d["quality"]))

    def claim_redescription(self, alert_id: str, sequence: int, holder: str, lease_s: float) -> bool:
        """True when ``holder`` may compute the second description of packet ``sequence``'s frame: that
        ``redescribed`` stage is not committed and no other holder's lease is on it."""
        return bool(self._claim(keys=[self._stage_key(f"{alert_id}.redescribed.{sequence}"),
                                      self._lease_key(f"{alert_id}/again/{sequence}")],
                                args=[holder, max(1, int(lease_s * 1000))]))

    def claim_description(self, alert_id: str, holder: str, lease_s: float) -> bool:
        """True when ``holder`` may describe the alert: not described yet and no other holder's lease.
        The lease lasts ``lease_s`` unless renewed."""
        return bool(self._claim(keys=[self._stage_key(f"{alert_id}.described"), self._lease_key(alert_id)],
                                args=[holder, max(1, int(lease_s * 1000))]))

    def renew_descriptions(self, alert_ids: list[str], holder: str, lease_s: float) -> None:
        """Extend ``holder``'s leases on the alerts it is still describing."""
        for aid in alert_ids:
            self._renew(keys=[self._lease_key(aid)], args=[holder, max(1, int(lease_s * 1000))])

    def _stage_key(self, idempotency_key: str) -> str:
        return f"{self.prefix}:stage:{idempotency_key}"

    def _view_key(self, alert_id: str) -> str:
        return f"{self.prefix}:view:{alert_id}"

    def _lease_key(self, alert_id: str) -> str:
        return f"{self.prefix}:describing:{alert_id}"

    def latest_stage(self, alert_id: str) -> Alert | None:
        body = self.r.get(f"{self.prefix}:alert:{alert_id}")
        return Alert(**json.loads(body)) if body else None

    def overdue(self, now: float, limit: int) -> list[str]:
        """Alerts detected and still not described at ``now`` past their deadline (any worker's)."""
        return [a.decode() for a in self.r.zrangebyscore(self.open_key, "-inf", now, start=0, num=limit)]

    def forget_open(self, alert_id: str) -> None:
        self.r.zrem(self.open_key, alert_id)
