"""`vigil-cloud --role worker`: reads jobs from the consumer group, describes, commits alert stages.

One job is one accepted event packet, handled as the single process handles it (cloud/answer/describe.py:
``detected`` for a new event, a description for the frame meant for the model), except that alert
stages are committed to the shared ``AlertLedger`` instead of a local outbox. The job is
acknowledged (XACK + XDEL) only after every stage it caused is committed; a worker that dies
before that leaves the job pending, and a survivor claims it (XAUTOCLAIM) once it has been idle for
``scale.claim_idle_s``. Processing a job twice is harmless: the ledger commits each stage once.
Describing is done once per alert: a worker takes the alert's describe lease in the ledger before it
runs the model, and a worker that cannot (another one describes or described it) skips the model and
the edge's Result and acknowledges the job.

A second description (``redescribed``: an escalation, or an end whose best snapshot adds information;
cloud/answer/redescribe.py, the single process's rule and stage) is made by whichever worker gets that
packet: the frame the first description was made from is committed with it (the ledger's view), a lease
per (alert, edge sequence) lets one worker compute it, and the ledger commits it once. It waits behind
this worker's first descriptions (cloud/scale/after_firsts.py); a shed or late one is only counted.

Loops (``loops``, each under the loop guard: an exception in one iteration is logged and the loop
goes on): ``read jobs`` (XREADGROUP while there is a free slot), ``heartbeat`` (keeps this worker's
in-flight jobs from looking abandoned, and claims other workers' abandoned ones), ``describe
deadlines`` (``described`` with status timeout for alerts past their deadline, any worker's, so a
dead worker's open alerts still finish).
"""
from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from redis.exceptions import RedisError

from cloud.alerts.alert import Alert
from cloud.alerts.manager import AlertManager
from cloud.alerts.seeing import ModelCard
from cloud.answer.describe import ALERT_MEMORY_S, DESCRIBABLE, describe_event
from cloud.answer.describe_pump import QueuedEngine
from cloud.answer.redescribe import Redescriber
from cloud.answer.redescribe_policy import RedescribeRule
from cloud.api.links import event_links
from cloud.config import CloudConfig
from cloud.engine.build import build_engine
from cloud.ingest.packet_limits import check_image, short
from cloud.ingest.packets import decode_jpeg, result_message
from cloud.scale import edge_replies
from cloud.scale.after_firsts import AfterFirsts
from cloud.scale.jobs import Job, JobStream
from cloud.scale.ledger import AlertLedger
from cloud.loops import ErrorLog
from cloud.scale.lifetime import Loop, start_loops, until_stopped
from cloud.scale.policy import describe_lease_s, heartbeat_s, job_keeps_image, poison, takeover
from cloud.scale.redis_checks import RedisUnavailable, check_redis, connect_async, connect_sync

log = logging.getLogger("vigil.scale")

READ_BLOCK_MS = 1000        # an idle XREADGROUP returns this often (to notice a stop)
EXPIRE_INTERVAL_S = 0.25    # how often overdue alerts are looked for
OVERDUE_BATCH = 100         # overdue alerts finished per round
LOOP_ERROR_PAUSE_S = 1.0    # after a Redis error, wait before the loop tries again
BEHIND_OTHERS_S = 0.5       # how often frames kept behind another worker's first description are looked at
EXIT_MODEL_FAILED = 1       # as the single process (cloud/cli.py)


class Worker:
    def __init__(self, cfg: CloudConfig, engine=None):
        self.cfg = cfg
        sc = cfg.scale
        self.consumer = sc.consumer or f"worker-{socket.gethostname()}-{os.getpid()}"
        self.redis = connect_async(sc.redis_url)
        self.jobs = JobStream(self.redis, sc.prefix)
        self.ledger = AlertLedger(connect_sync(sc.redis_url), sc.prefix, cfg.alerts.retain_delivered_s,
                                  cfg.alerts.describe_deadline_s)
        self.engine = engine if engine is not None else build_engine(cfg.engine)
        self.alerts = AlertManager(self._commit, describe_deadline_s=cfg.alerts.describe_deadline_s,
                                   retain_s=ALERT_MEMORY_S, lookup=self.ledger.latest_stage,
                                   model=lambda: ModelCard(self.engine.model_name, self.engine.sees_images),
                                   view_lookup=self.ledger.view)
        self._decoder = ThreadPoolExecutor(max_workers=cfg.server.decode_threads, thread_name_prefix="vigil-jpeg")
        self._slots = asyncio.Semaphore(sc.worker_concurrency)
        self.in_flight: dict[str, asyncio.Task] = {}
        self._followups: set[asyncio.Task] = set()   # evidence requests waiting their turn (not job state)
        self._describing: set[str] = set()           # alerts whose describe lease this worker holds
        self._behind_others: dict[str, float] = {}   # alert id -> when its kept frame is given up
        self._lease_s = describe_lease_s(sc.claim_idle_s)
        self.stats: Counter[str] = Counter()
        self._firsts_idle = asyncio.Event()          # set while no first description is computed here
        self._firsts_idle.set()
        r = cfg.alerts.redescribe
        self.again = QueuedEngine(AfterFirsts(self.engine, self._firsts_idle),
                                  capacity=cfg.alerts.describe_queue_size, concurrency=1)
        self.redescriber = Redescriber(self.alerts, self.again, self.stats, RedescribeRule(
            on_escalation=r.on_escalation, on_end=r.on_end, min_quality_gain=r.min_quality_gain),
            claim=self._claim_again)
        self._expire_errors = ErrorLog()
        self.tasks: list[asyncio.Task] = []

    # -- committing ---------------------------------------------------------------------------
    def _commit(self, alert: Alert) -> None:
        alert.links = event_links(self.cfg.api.public_url, alert.alert_id)
        view = self.alerts.view_of(alert.alert_id) if alert.stage in ("described", "redescribed") else None
        # Raises on a Redis error: the stage stays uncommitted, the job unacked.
        if not self.ledger.commit(alert, view):
            self.stats["already_committed"] += 1
            return
        self.stats[f"committed_{alert.stage}"] += 1
        log.info("alert %s %s camera=%s event=%s%s", alert.alert_id, alert.stage, short(alert.camera_id),
                 short(alert.event_id), f" status={alert.description_status}" if alert.stage == "described" else "")

    # -- jobs ---------------------------------------------------------------------------------
    def _start(self, job: Job) -> None:
        task = asyncio.get_running_loop().create_task(self._handle(job))
        self.in_flight[job.entry_id] = task
        task.add_done_callback(lambda _: self.in_flight.pop(job.entry_id, None))

    async def _handle(self, job: Job) -> None:
        async with self._slots:
            try:
                await self._process(job)
                await self.jobs.finish(job.entry_id)
            except asyncio.CancelledError:
                raise
            except Exception:   # not acknowledged: claimed again after claim_idle_s (poison after max_deliveries)
                self.stats["job_errors"] += 1
                log.exception("job %s (%s/%d from %s) failed; it will be retried", job.entry_id,
                              short(job.packet.camera_id), job.packet.sequence, short(job.edge_id))
                return
        self.stats["jobs_done"] += 1

    async def _process(self, job: Job) -> None:
        pkt, edge_id = job.packet, job.edge_id
        image = None
        if pkt.jpeg and job_keeps_image(pkt) and check_image(pkt.jpeg, self.cfg.server.max_image_pixels) is None:
            image = await asyncio.get_running_loop().run_in_executor(self._decoder, decode_jpeg, pkt.jpeg)
            if image is None:
                self.stats["corrupt_jpeg"] += 1
        aid, describing = describe_event(self.alerts, self.engine, self.stats, edge_id, pkt, image,
                                         stop_at_deadline=True)
        if describing is None:
            if image is not None and pkt.priority in DESCRIBABLE:
                self.redescriber.offer(aid, pkt, image)   # an escalation or the end's best frame, perhaps
            return
        if not self.ledger.claim_description(aid, self.consumer, self._lease_s):
            self.alerts.forget(aid)   # its describer sends the stage, or a survivor its timeout
            self.stats["describe_skipped"] += 1
            log.info("alert %s is described by another worker: not described again", aid)
            if self.alerts.recall_described(aid):   # done already (this worker held it open from a metadata packet)
                self.redescriber.offer(aid, pkt, image)   # its end's best frame, perhaps
            elif image is not None:
                self.redescriber.defer(aid, pkt, image)   # being described there: judged once that is committed
            return
        self._describing.add(aid)
        self._firsts_idle.clear()
        try:
            status, text = await describing()
        finally:
            self._describing.discard(aid)
            if not self._describing:
                self._firsts_idle.set()
        await self._reply(edge_id, pkt, aid, status, text)
        try:
            self.redescriber.first_done(aid)   # an escalation that came while it was computed, perhaps
        except RedisError as exc:   # an extra: the job (its stages committed, its Result sent) is done
            self.stats["redescribe_errors"] += 1
            log.warning("alert %s: second description not started (%s)", aid, exc)

    def _claim_again(self, aid: str, sequence: int) -> bool:
        """The lease on packet ``sequence``'s second description, as long as it may take (its deadline)."""
        return self.ledger.claim_redescription(aid, sequence, self.consumer,
                                               self.cfg.alerts.describe_deadline_s + self._lease_s)

    async def _reply(self, edge_id: str, pkt, aid: str, status: str, text: str) -> None:
        """The edge's Result, and later an evidence request if it sent none (through its gateway)."""
        prefix = self.cfg.scale.prefix
        await edge_replies.publish(self.redis, prefix, edge_id, result_message(pkt, aid, status, text))
        task = asyncio.get_running_loop().create_task(edge_replies.request_evidence_later(
            self.redis, prefix, edge_id, pkt.camera_id, pkt.event_id, self.cfg.server.evidence_request_after_s))
        self._followups.add(task)
        task.add_done_callback(self._followups.discard)

    # -- loops --------------------------------------------------------------------------------
    def loops(self) -> list[Loop]:
        """(name, one iteration, interval, sleep before the first); the reader comes first (stop() ends it)."""
        return [("read jobs", self._read_step, 0.0, False),
                ("heartbeat", self._beat_step, heartbeat_s(self.cfg.scale.claim_idle_s), True),
                ("describe deadlines", self._expire_step, EXPIRE_INTERVAL_S, True),
                ("second descriptions behind other workers", self._behind_others_step, BEHIND_OTHERS_S, True)]

    async def _read_step(self) -> None:
        free = self.cfg.scale.worker_concurrency - len(self.in_flight)
        if free <= 0:
            await asyncio.wait(list(self.in_flight.values()), return_when=asyncio.FIRST_COMPLETED)
            return
        try:
            jobs = await self.jobs.read(self.consumer, min(free, self.cfg.scale.read_batch), READ_BLOCK_MS)
        except RedisError as exc:
            log.warning("worker %s: reading jobs failed: %s", self.consumer, exc)
            await asyncio.sleep(LOOP_ERROR_PAUSE_S)
            return
        for job in jobs:
            self._start(job)

    async def _behind_others_step(self) -> None:
        """Escalation and end frames kept while another worker computes the event's first description
        (its lease in the ledger): once that description is committed, judge the frame for a second one;
        given up (counted, one INFO line) when none is committed within the describe deadline and a lease."""
        now = time.time()
        for aid in self.redescriber.deferred():
            if aid in self._describing:
                continue   # this worker's own first description: its end calls first_done
            give_up = self._behind_others.setdefault(aid, now + self.cfg.alerts.describe_deadline_s + self._lease_s)
            try:
                described = self.ledger.view(aid) is not None
            except RedisError as exc:
                log.warning("worker %s: reading alert %s's description failed: %s", self.consumer, aid, exc)
                return
            if described:
                del self._behind_others[aid]
                self.alerts.forget(aid)   # held open here from an earlier packet, perhaps; the ledger has it now
                if self.alerts.recall_described(aid):
                    self.redescriber.first_done(aid)
                continue
            if now >= give_up:
                del self._behind_others[aid]
                self.redescriber.drop_deferred(aid)
                self.stats["redescribe_gave_up"] += 1
                log.info("alert %s: no first description committed by another worker in time; its kept "
                         "escalation/end frame is not described again", aid)

    async def _beat_step(self) -> None:
        sc = self.cfg.scale
        idle_ms = int(sc.claim_idle_s * 1000)
        try:
            self.ledger.renew_descriptions(list(self._describing), self.consumer, self._lease_s)
            await self.jobs.beat(self.consumer, list(self.in_flight))
            dead = poison(await self.jobs.pending(idle_ms), sc.claim_idle_s, sc.max_deliveries)
            if dead:
                n = await self.jobs.bury(self.consumer, dead, idle_ms)
                self.stats["jobs_dead"] += n
                log.error("worker %s: %d jobs failed %d times and were moved to %s (kept for inspection)",
                          self.consumer, n, sc.max_deliveries, self.jobs.dead_key)
            free = max(1, sc.worker_concurrency - len(self.in_flight))
            claimed = await self.jobs.claim(self.consumer, idle_ms, free)
        except RedisError as exc:
            log.warning("worker %s: heartbeat/claim failed: %s", self.consumer, exc)
            return
        mine = {j.entry_id: j for j in claimed}
        for entry_id in takeover(list(mine), set(self.in_flight)):
            self.stats["jobs_claimed"] += 1
            log.info("worker %s: claimed job %s, abandoned by its worker", self.consumer, entry_id)
            self._start(mine[entry_id])

    def _expire_step(self) -> None:
        try:
            for aid in self.ledger.overdue(time.time(), OVERDUE_BATCH):
                if self.alerts.is_open(aid):
                    continue
                latest = self.ledger.latest_stage(aid)
                if latest is None or latest.stage == "described":
                    self.ledger.forget_open(aid)   # finished (or expired from Redis): nothing to send
                else:
                    self.alerts.restore([latest])   # a dead worker's alert: finish it here
            self.alerts.expire()
        except RedisError as exc:
            log.warning("worker %s: expiring alerts failed: %s", self.consumer, exc)
        for aid, exc in self.alerts.failed.items():   # kept and tried again next tick; said once a minute
            key = f"{type(exc).__name__}: {exc}"
            if self._expire_errors.should_log(key):
                log.error("alert %s: described stage not committed (%s); it stays open and is tried again "
                          "(%d alerts wait so)", aid, key, len(self.alerts.failed))

    # -- life ---------------------------------------------------------------------------------
    async def start(self) -> None:
        await check_redis(self.redis, self.cfg.scale.redis_url)
        await self.jobs.ensure_group()
        if hasattr(self.engine, "start"):
            self.engine.start()
        ready = getattr(self.engine, "ready", None)
        if ready is not None:   # take no job before the model can describe it (other workers can)
            log.info("worker %s: loading the model", self.consumer)
            await ready()
        self.tasks = start_loops(self.loops())
        log.info("worker %s reading %s (group workers, up to %d jobs at once)", self.consumer, self.jobs.key,
                 self.cfg.scale.worker_concurrency)

    async def stop(self, timeout_s: float) -> None:
        """Stop reading, give in-flight jobs ``timeout_s``; the rest stay pending for other workers."""
        reader = self.tasks[0] if self.tasks else None
        if reader:
            reader.cancel()
        if self.in_flight:
            _, left = await asyncio.wait(list(self.in_flight.values()), timeout=timeout_s)
            if left:
                log.warning("worker %s: %d jobs unfinished at shutdown; another worker claims them after %gs",
                            self.consumer, len(left), self.cfg.scale.claim_idle_s)
            for t in left:
                t.cancel()
        for t in [*self.tasks, *self._followups]:
            t.cancel()
        self.redescriber.close()   # second descriptions are extra: one cut off here is not owed to anybody
        self.again.close()
        if hasattr(self.engine, "close"):
            await self.engine.close()
        self._decoder.shutdown(wait=False, cancel_futures=True)
        await self.redis.aclose()
        self.ledger.r.close()


async def serve(cfg: CloudConfig, stop: asyncio.Event) -> int:
    worker = Worker(cfg)
    try:
        await worker.start()
    except RedisUnavailable:
        raise
    except Exception as exc:   # the model could not load: exit 1 so a supervisor sees it
        log.error("worker %s: could not start (%s: %s); exiting", worker.consumer, type(exc).__name__, exc)
        return EXIT_MODEL_FAILED
    rc = await until_stopped(stop, list(worker.tasks), "worker")
    log.info("worker %s: shutting down (at most %gs for jobs in flight)", worker.consumer, cfg.alerts.drain_timeout_s)
    await worker.stop(cfg.alerts.drain_timeout_s)
    return rc
