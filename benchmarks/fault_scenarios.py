"""Fault scenarios with real processes where data used to be lost (a full disk, an edge killed while
its spool replays on a slow link, a dead-letter replay after a long outage into a flaky receiver).

Each returns one row of the ``faults`` table of benchmarks/results/load.json; tests/faults/ runs
the same functions and asserts on the rows. A row counts, by alert: ``sent`` (events the edge
raised), ``delivered`` (stages complete and in order at the receiver: testkit/stages.py), ``duplicated`` (requests
the receiver answered 200 for a webhook-id it had already answered), ``lost``, ``no_final_status``
(``detected`` without a ``described`` stage), and ``operator_actions`` (what a person had to do;
the replay scenario's one ``--dead-letters replay`` is the action under test). A scenario that
needs root (tmpfs, network namespaces) and cannot have it returns ``skipped`` with the reason.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from testkit.fault_procs import (ROOT, SECRET, CloudProc, ReceiverProc, _edge_env, child_env, cloud_config,
                                    free_port, run_edge, start_edge, wait_for, wait_for_log_line)
from testkit.stages import complete as stages_complete, in_order as stages_in_order
from vigil.v1 import vigil_pb2 as pb

ALERT_LINE = re.compile(r"alert (\w+) detected")
STORAGE_ERROR = "ERROR vigil.cloud: storage:"
FULL_DISK_BYTES = 256 * 1024      # the filesystem the run filled
FULL_DISK_HEADROOM = 48 * 1024    # alerts.min_free_bytes there (the default, 64 MiB, is for real disks)
FULL_FOR_S = 8.0                  # how long the disk stays full (a filler file), mid-stream
REPLAY_TARGET_S = 30.0            # the shaped link's rate is set so the spool takes about this long to replay
RELAY_PORT = 7100
GIVE_UP_S = 3.0                   # alerts.give_up_after_s of the replay scenario ("a long outage", scaled down)


def tally(rx: ReceiverProc, alerts: set[str], sent: int) -> dict:
    """The common columns of a row, for the alerts in ``alerts`` of ``sent`` events (lost counts against
    the larger of the two: an event that never became an alert is lost too)."""
    per_alert, repeats = rx.tally()
    delivered = sum(1 for a in alerts if stages_complete(per_alert.get(a)))
    statuses: dict[str, int] = {}
    for r in rx.records():
        if r["ok"] and r["stage"] == "described" and r["alert_id"] in alerts:
            statuses[r["status"]] = statuses.get(r["status"], 0) + 1
    return {"sent": sent, "alerts": len(alerts), "delivered": delivered, "duplicated": repeats,
            "lost": max(sent, len(alerts)) - delivered,
            "out_of_order": sum(1 for a in alerts if a in per_alert and not stages_in_order(per_alert[a])),
            "no_final_status": sum(1 for a in alerts if a in per_alert and "described" not in per_alert[a]),
            "described_status": statuses}


def _complete(rx: ReceiverProc, alerts: set[str]) -> bool:
    per_alert, _ = rx.tally()
    return all(stages_complete(per_alert.get(a)) for a in alerts)


def _events_of(output: str) -> int:
    m = re.findall(r"events (\d+)", output)
    return int(m[-1]) if m else 0


# -- a full disk under the outbox ------------------------------------------------------------------
def _tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _mount_tmpfs(path: Path, size: int) -> str:
    """'' when a tmpfs of ``size`` bytes is mounted at ``path``, else why not."""
    if os.geteuid() != 0:
        return "not root: mounting a small tmpfs needs CAP_SYS_ADMIN"
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True, text=True)
    return "" if done.returncode == 0 else f"mount tmpfs failed: {done.stderr.strip()}"


def _fill(directory: Path) -> Path:
    """Write a filler file until the disk refuses (ENOSPC)."""
    filler = directory / "filler"
    f = open(filler, "wb", buffering=0)
    try:
        while True:
            f.write(b"\0" * 4096)
    except OSError:
        pass
    finally:
        try:
            f.close()
        except OSError:
            pass
    return filler


def fault_full_disk(work: Path) -> dict:
    name = "full_disk_under_outbox"
    disk = work / "disk"
    why = _mount_tmpfs(disk, FULL_DISK_BYTES)
    if why:
        return {"scenario": name, "skipped": why}
    rx = ReceiverProc(work, free_port()).start()
    port = free_port()
    cfg = cloud_config(port, rx.url, disk / "outbox.db", min_free_bytes=FULL_DISK_HEADROOM)
    cfg["store"] = {"path": str(work / "events.db")}   # the images go elsewhere: the outbox is what fills
    cloud = CloudProc(work / "cloud", port, cfg).start()
    edge = start_edge(port, work, work / "spool", work / "edge.log", realtime=True,
                      extra_env={"VIGIL_EDGE__CLOUD__REFUSED_RETRY_MAX_S": "2", "VIGIL_EDGE__METRICS__ENABLED": "false"})
    try:
        wait_for(lambda: ALERT_LINE.search(cloud.log()), 90)
        filler = _fill(disk)
        time.sleep(FULL_FOR_S)
        filler.unlink()
        freed = time.time()
        recovered = wait_for(lambda: "can write again" in cloud.log(), 60, 0.2)
        recovery_s = round(time.time() - freed, 1) if recovered else None
        try:
            edge.wait(240)
        except subprocess.TimeoutExpired:   # say why in the failure (CI keeps no files), then fail
            raise AssertionError("the edge did not finish within 240 s after the disk was freed\n--- cloud log tail:\n"
                                 + _tail(cloud.log()) + "\n--- edge log tail:\n"
                                 + _tail((work / "edge.log").read_text())) from None
        alerts = set(ALERT_LINE.findall(cloud.log()))
        wait_for(lambda: _complete(rx, alerts), 90, 0.5)
    finally:
        if edge.poll() is None:
            edge.kill()
        cloud.stop()
        rx.stop()
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)
    log = cloud.log()
    edge_log = (work / "edge.log").read_text()
    return {"scenario": name, **tally(rx, alerts, _events_of(edge_log)),
            "disk_bytes": FULL_DISK_BYTES, "min_free_bytes": FULL_DISK_HEADROOM, "full_for_s": FULL_FOR_S,
            "storage_error_lines": log.count(STORAGE_ERROR), "tracebacks": log.count("Traceback"),
            "edge_log_lines_about_the_refusal": edge_log.count("cloud storage cannot write"),
            "recovery_s_after_space_returned": recovery_s, "operator_actions": 0,
            "edge_exit": edge.returncode}


# -- an edge killed while its spool replays on a shaped link ---------------------------------------
def _spooled(spool: Path) -> list[pb.FramePacket]:
    return [pb.FramePacket.FromString(p.read_bytes()) for p in spool.glob("*.pkt")]


def _ns_port_open(prefix: list[str], host: str, port: int) -> bool:
    probe = f"import socket; socket.create_connection(({host!r}, {port}), timeout=0.5).close()"
    return subprocess.run(prefix + [sys.executable, "-c", probe], capture_output=True).returncode == 0


def fault_edge_killed_mid_replay(work: Path) -> dict:
    from benchmarks.netlink import netns
    from cloud.alerts.manager import alert_id_for
    name = "edge_killed_mid_replay_shaped_link"
    ok, why = netns.available()
    if not ok:
        return {"scenario": name, "skipped": why}
    work.mkdir(parents=True, exist_ok=True)
    spool, log = work / "spool", open(work / "procs.log", "a")
    link = netns.NetnsLink(1_000_000, index=5)
    pre_c, pre_e = link.exec_prefix("cloud"), link.exec_prefix("edge")
    target = f"{link.cloud_ip}:{RELAY_PORT}"
    quiet = {"VIGIL_EDGE__CLOUD__PLAINTEXT": "true", "VIGIL_EDGE__METRICS__ENABLED": "false"}
    procs: list[subprocess.Popen] = []

    def edge(cams: str | None = None) -> subprocess.Popen:
        extra = dict(quiet, **({"VIGIL_EDGE__CAMERAS": cams} if cams else {}))
        p = subprocess.Popen(pre_e + [sys.executable, "-m", "edge.cli", "--cloud", target], cwd=work,
                             env=_edge_env(spool, False, extra), stdout=log, stderr=subprocess.STDOUT)
        procs.append(p)
        return p
    try:
        # 1. The cloud is unreachable: the edge spools its events; then it dies.
        first = edge()
        counts: list[int] = []

        def settled() -> bool:
            counts.append(len(list(spool.glob("*.pkt"))))
            return len(counts) > 60 and counts[-1] >= 5 and counts[-1] == counts[-60]
        wait_for(settled, 240, 0.1)
        first.send_signal(signal.SIGKILL)
        first.wait()
        packets = _spooled(spool)
        events = {(p.camera_id, p.event_id) for p in packets if p.event_id}
        alerts = {alert_id_for("demo-edge", cam, ev) for cam, ev in events}
        spool_bytes = sum(p.ByteSize() for p in packets)
        rate = int(min(4_000_000, max(48_000, spool_bytes * 8 / REPLAY_TARGET_S)))
        link.set_rate(rate)
        # 2. The cloud (and its receiver) come up behind the shaped link.
        rx_port, cloud_port = free_port(), free_port()
        rx = ReceiverProc(work, rx_port)
        rx.proc = subprocess.Popen(pre_c + [sys.executable, "-m", "testkit.load_receiver", "--port", str(rx_port),
                                            "--secret", SECRET, "--out", str(rx.out)], cwd=ROOT, env=child_env(),
                                   stdout=log, stderr=subprocess.STDOUT)
        procs.append(rx.proc)
        cfg = cloud_config(cloud_port, f"http://127.0.0.1:{rx_port}/alerts", work / "outbox.db",
                           describe_deadline_s=900)   # a timeout here would mean a semantic frame never came
        cfg["api"], cfg["store"] = {"enabled": False}, {"path": str(work / "events.db")}
        (work / "cloud.yaml").write_text(yaml.safe_dump(cfg))
        cloud_log = work / "cloud.log"
        cloud = subprocess.Popen(pre_c + [sys.executable, "-m", "cloud.cli", "--config", str(work / "cloud.yaml")],
                                 cwd=work, env=child_env(), stdout=open(cloud_log, "w"), stderr=subprocess.STDOUT)
        procs.append(cloud)
        wait_for_log_line(cloud, cloud_log, 0, "cloud listening on", 120, "cloud", cloud.kill)
        relay = subprocess.Popen(pre_c + [sys.executable, "-m", "benchmarks.netlink.relay", "--listen", target,
                                          "--upstream", f"127.0.0.1:{cloud_port}", "--delay-ms", "25",
                                          "--ready-file", str(work / "relay.port")],
                                 cwd=ROOT, env=child_env(), stdout=log, stderr=subprocess.STDOUT)
        procs.append(relay)
        wait_for(lambda: (work / "relay.port").exists() and _ns_port_open(pre_c, "127.0.0.1", rx_port), 60, 0.2)
        # 3. The edge restarts and replays; it is killed mid-replay: some spooled events are complete at
        # the receiver, others not yet (judged at the receiver, not by the spool's files).
        few = "[{id: cam-1, name: bunny, url: 'sample:bigbuckbunny.mp4', fps: 1, realtime: false}]"
        total = len(packets)
        replaying = edge(few)
        t0 = time.time()

        def complete() -> int:
            per_alert, _ = rx.tally()
            return sum(1 for a in alerts if stages_complete(per_alert.get(a)))
        mid = wait_for(lambda: 0 < complete() < len(alerts), 300, 0.05)
        at_kill = len(list(spool.glob("*.pkt")))
        complete_at_kill = complete()
        replaying.send_signal(signal.SIGKILL)
        replaying.wait()
        killed_after_s = round(time.time() - t0, 1)
        # 4. It starts again (as a supervisor restarts it) and finishes.
        last = edge(few)
        last.wait(600)
        wait_for(lambda: _complete(rx, alerts), 120, 0.5)
        left = len(list(spool.glob("*.pkt")))
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.kill()
                p.wait()
        link.close()
        log.close()
    return {"scenario": name, **tally(rx, alerts, len(alerts)), "spooled_packets": total,
            "spool_bytes": spool_bytes, "link_bps": rate, "killed_mid_replay": bool(mid),
            "killed_after_s": killed_after_s, "alerts_complete_at_kill": complete_at_kill,
            "spool_files_at_kill": at_kill,
            "left_in_spool_at_end": left, "edge_exit": last.returncode, "operator_actions": 0,
            "link_mode": "netns+tbf+delay-relay"}


# -- a dead-letter replay after a long outage, into a flaky receiver -------------------------------
def _all_dead(outbox: Path) -> bool:
    """Every delivery of the outbox gave up (none pending, some dead): the outage outlasted the budget."""
    import sqlite3
    db = sqlite3.connect(f"file:{outbox}?mode=ro", uri=True)
    try:
        states = dict(db.execute("SELECT state, COUNT(*) FROM deliveries GROUP BY state").fetchall())
    except sqlite3.Error:
        return False
    finally:
        db.close()
    return states.get("pending", 0) == 0 and states.get("dead", 0) > 0


def _dead_letters(config: Path) -> int:
    out = subprocess.run([sys.executable, "-m", "cloud.cli", "--config", str(config), "--dead-letters", "list"],
                         cwd=config.parent, env=child_env(), capture_output=True, text=True, timeout=60)
    m = re.search(r"(\d+) dead letters", out.stderr)
    return int(m.group(1)) if m else -1


def fault_replay_after_outage_flaky_receiver(work: Path) -> dict:
    name = "dead_letter_replay_after_outage_flaky_receiver"
    rx = ReceiverProc(work, free_port(), flaky=True)      # down for now: the outage
    port = free_port()
    cloud = CloudProc(work / "cloud", port, cloud_config(port, rx.url, work / "outbox.db", give_up_after_s=GIVE_UP_S)
                      ).start()
    try:
        out = run_edge(port, work, work / "spool")
        alerts = set(ALERT_LINE.findall(cloud.log()))
        all_dead = wait_for(lambda: _all_dead(work / "outbox.db"), 120, 1.0)
        time.sleep(GIVE_UP_S + 1.0)                       # every letter is now older than the give-up budget
        rx.start()
        replay = subprocess.run([sys.executable, "-m", "cloud.cli", "--config", str(cloud.config_path),
                                 "--dead-letters", "replay"], cwd=cloud.workdir, env=child_env(), capture_output=True,
                                text=True, timeout=60)
        t0 = time.time()
        wait_for(lambda: _complete(rx, alerts), 120, 0.5)
        delivered_s = round(time.time() - t0, 1)
        dead_after = _dead_letters(cloud.config_path)
    finally:
        cloud.stop()
        rx.stop()
    dropped = sum(1 for r in rx.records() if r.get("dropped"))
    return {"scenario": name, **tally(rx, alerts, _events_of(out.stdout + out.stderr)),
            "all_dead_before_replay": all_dead, "give_up_after_s": GIVE_UP_S, "replays": 1,
            "replay_output": replay.stdout.strip(), "first_attempts_dropped_by_receiver": dropped,
            "dead_letters_after_replay": dead_after, "delivered_within_s_of_replay": delivered_s,
            "operator_actions": 1}


SCENARIOS = {"full_disk": fault_full_disk, "edge_killed_mid_replay": fault_edge_killed_mid_replay,
             "replay_after_outage_flaky_receiver": fault_replay_after_outage_flaky_receiver}
