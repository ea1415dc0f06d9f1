"""`make demo`: the whole system on one machine, on a real sample clip.

Starts a local webhook receiver (prints each alert), the cloud service with the most
meaningful model this machine can load offline, and one edge agent reading the sample
clip; ends by itself at the end of the clip with a one-line summary.

The model is the first of DEMO_MODELS that loads: a model that fails to load (not
built here, weights missing) is reported in one line and the next is tried. The tiny
random model is for tests only (`--model tiny:qwen2_5_vl` still runs it).
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import secrets
import sys
import time

from cloud.config import load_cloud_config
from cloud.service import CloudService
from edge.agent import EdgeAgent
from edge.config import load_edge_config
from edge.transmit.config import TransmitConfig
from vigil.logs import setup_logging
from vigil_tools.webhook_echo import WebhookReceiver

# The demo's model, in order of preference: the first that loads is used. Edit to switch.
# vigil-bench-vlm is left out until it answers from the image (benchmarks/results/vlm_eval.json:
# below chance today) and because it only knows its synthetic scenes' question.
DEMO_MODELS = ("smollm_llava",)
# What a viewer should know about each, printed next to its name.
MODEL_NOTES = {
    "vigil-bench-vlm": "benchmark VLM trained for Vigil",
    "smollm_llava": "SmolLM2-135M language weights with an untrained vision tower: it cannot see images, "
                    "so each description says only what the edge measured, at threat level 0",
}
# What one description needs on a 2-core CPU, frozen before the soak (docs/scheduling.md,
# benchmarks/results/soak.json): 64 of the model's 576 visual tokens (ID-Selection: prefill drops
# from seconds to a few hundred ms), an answer budget of 48 tokens (decoding is most of a
# description's time: the summary and threat level fit, and a long summary leaves out the object
# list, which the alert already carries from the edge's counts), one torch thread (the edge's detector
# needs the other core), and strict speculative decoding drafting from recent answers (exactly the
# greedy answer, in fewer model steps: a camera's answers repeat; benchmarks/results/spec.json).
# Batching is the describe queue's (alerts.describe_concurrency, adapted to the deadline).
DEMO_ENGINE = {"pruner": {"method": "id_selection", "budget": 64}, "max_new_tokens": 48, "torch_threads": 1,
               "speculative": {"mode": "strict", "drafter": "history"}}
DEMO_SECRET_BYTES = 16
DEFAULT_DEADLINE_S = 120.0     # a CPU model describes one event in tens of seconds on a busy machine
DRAIN_SLACK_S = 10.0


def say(msg: str) -> None:
    print(f"demo: {msg}", flush=True)


async def start_cloud(receiver: WebhookReceiver, secret: str, models: list[str], deadline_s: float):
    """The cloud running the first of `models` that loads; (service, model name)."""
    for model in models:
        cfg = load_cloud_config(environ={}, overrides={
            "server": {"host": "127.0.0.1", "port": 0},
            "alerts": {"webhooks": [{"url": receiver.url, "secret": secret}], "describe_deadline_s": deadline_s,
                       "outbox_path": None},
            "api": {"host": "127.0.0.1", "port": 0}, "store": {"path": None},
            "engine": {"model": model, **DEMO_ENGINE}})
        service = CloudService(cfg)
        await service.start()
        say(f"loading model {model} ...")
        t0 = time.time()
        try:
            await service.model_loaded
        except Exception as exc:  # noqa: BLE001 - not available here: say why in one line, try the next
            say(f"model {model} is not available here ({str(exc).splitlines()[0][:160]})")
            await service.stop()
            continue
        say(f"model {model} loaded in {time.time() - t0:.0f}s")
        return service, model
    raise SystemExit(f"demo: none of the models {', '.join(models)} could be loaded")


async def run_demo(clip: str, policy: str, deadline_s: float, models: list[str]) -> int:
    secret = secrets.token_hex(DEMO_SECRET_BYTES)
    receiver = WebhookReceiver(secret).start()
    say(f"webhook receiver on {receiver.url}")
    service, model = await start_cloud(receiver, secret, models, deadline_s)
    note = MODEL_NOTES.get(model)
    say(f"cloud listening on 127.0.0.1:{service.port}, model: {model}" + (f" ({note})" if note else ""))
    if not service.engine.sees_images:
        say(f"{model} cannot see images: every alert names it, says so, and carries only what the edge measured "
            "(objects, zone, dwell) at threat level 0")
    if service.api is not None:
        say(f"operator page on http://127.0.0.1:{service.api.port}/?token={service.cfg.api.tokens[0]}")
    edge_cfg = load_edge_config(environ={}, overrides={
        "cameras": [{"id": "cam-1", "name": f"Sample: {clip}", "url": f"sample:{clip}", "fps": 5}],
        "cloud": {"target": f"127.0.0.1:{service.port}", "results_grace_s": deadline_s},
        "transmit": {"policy": policy}, "status_interval_s": 0})
    agent = EdgeAgent(edge_cfg)
    say(f"edge agent reading {agent.cameras[0].url} (policy {policy})")
    t0 = time.time()
    summary = await agent.run()
    say("clip finished; waiting for the last descriptions ...")
    await service.drain(timeout_s=deadline_s + DRAIN_SLACK_S)
    await service.stop()
    receiver.stop()
    stages = receiver.stages()
    detected = sum(1 for v in stages.values() if any(a["stage"] == "detected" for a in v))
    described = sum(1 for v in stages.values() for a in v
                    if a["stage"] == "described" and a["description_status"] == "ok")
    seeing = "" if service.engine.sees_images else " (cannot see images: descriptions are the edge's measurements)"
    print(f"demo summary: model {model}{seeing}, frames read {summary.frames_read}, frames gated {summary.frames_gated}, "
          f"frames sent {summary.packets_sent}, bytes sent {summary.bytes_sent}, alerts delivered {detected}, "
          f"descriptions delivered {described} ({time.time() - t0:.1f}s)", flush=True)
    return 0 if detected and described else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="vigil-demo", description="Run cloud + edge + webhook receiver on a sample clip.")
    p.add_argument("--clip", default="bikes.mp4", choices=["bikes.mp4", "carphone_pristine.mp4"])
    p.add_argument("--policy", default=None, choices=["fifo", "dat"])
    p.add_argument("--deadline", type=float, default=DEFAULT_DEADLINE_S, help="describe deadline in seconds")
    p.add_argument("--model", default=None, help=f"engine.model (default: the first that loads of "
                   f"{', '.join(DEMO_MODELS)}; 'tiny:qwen2_5_vl' = the tiny random test model)")
    p.add_argument("--verbose", action="store_true")
    args = p.parse_args(argv)
    setup_logging("INFO" if args.verbose else "CRITICAL")   # the demo prints its own lines; --verbose for logs
    policy = args.policy or TransmitConfig().policy
    models = [args.model] if args.model else list(DEMO_MODELS)
    return asyncio.run(run_demo(args.clip, policy, args.deadline, models))


if __name__ == "__main__":
    sys.exit(main())
