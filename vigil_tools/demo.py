"""`make demo`: the whole system on one machine, on a real sample clip.

Starts a local webhook receiver (prints each alert), the cloud service with
its embedded default model, and one edge agent reading the sample clip; ends
by itself at the end of the clip with a one-line summary.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import secrets
import sys
import time

from cloud.config import load_cloud_config
from cloud.server import CloudService
from edge.agent import EdgeAgent
from edge.config import load_edge_config
from edge.transmit.config import TransmitConfig
from vigil_tools.webhook_echo import WebhookReceiver

DEMO_SECRET_BYTES = 16


async def run_demo(clip: str, policy: str, deadline_s: float, model: str | None = None) -> int:
    secret = secrets.token_hex(DEMO_SECRET_BYTES)
    receiver = WebhookReceiver(secret).start()
    print(f"demo: webhook receiver on {receiver.url}", flush=True)
    cloud_cfg = load_cloud_config(overrides={
        "server": {"host": "127.0.0.1", "port": 0},
        "alerts": {"webhooks": [{"url": receiver.url, "secret": secret}], "describe_deadline_s": deadline_s,
                   "dead_letter_path": None},
        "api": {"host": "127.0.0.1", "port": 0}, "store": {"path": None},
        **({"engine": {"model": model}} if model else {})})
    service = CloudService(cloud_cfg)
    port = await service.start()
    print(f"demo: cloud listening on 127.0.0.1:{port} (model: {getattr(service.engine, 'model_name', 'configured engine')})", flush=True)
    if service.api is not None:
        print(f"demo: operator page on http://127.0.0.1:{service.api.port}/?token={cloud_cfg.api.tokens[0]}", flush=True)
    edge_cfg = load_edge_config(overrides={
        "cameras": [{"id": "cam-1", "name": f"Sample: {clip}", "url": f"sample:{clip}", "fps": 5}],
        "cloud": {"target": f"127.0.0.1:{port}", "results_grace_s": deadline_s},
        "transmit": {"policy": policy}})
    agent = EdgeAgent(edge_cfg)
    print(f"demo: edge agent reading {agent.cameras[0].url} (policy {policy})", flush=True)
    t0 = time.time()
    summary = await agent.run()
    await service.drain(timeout_s=deadline_s + 10)
    await service.stop()
    receiver.stop()
    stages = receiver.stages()
    detected = sum(1 for v in stages.values() if any(a["stage"] == "detected" for a in v))
    described = sum(1 for v in stages.values() for a in v
                    if a["stage"] == "described" and a["description_status"] == "ok")
    print(f"demo summary: frames read {summary.frames_read}, frames gated {summary.frames_gated}, "
          f"frames sent {summary.packets_sent}, bytes sent {summary.bytes_sent}, alerts delivered {detected}, "
          f"descriptions delivered {described} ({time.time() - t0:.1f}s)", flush=True)
    return 0 if detected and described else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="vigil-demo", description="Run cloud + edge + webhook receiver on a sample clip.")
    p.add_argument("--clip", default="bikes.mp4", choices=["bikes.mp4", "carphone_pristine.mp4"])
    p.add_argument("--policy", default=None, choices=["fifo", "dat"])
    p.add_argument("--deadline", type=float, default=60.0, help="describe deadline in seconds")
    p.add_argument("--model", default=None, help="engine.model (default: tiny random Qwen2.5-VL; 'smollm_llava' = "
                   "real SmolLM2 language weights with a random vision tower: English text driven by the edge's hints)")
    p.add_argument("--verbose", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    policy = args.policy or TransmitConfig().policy
    return asyncio.run(run_demo(args.clip, policy, args.deadline, args.model))


if __name__ == "__main__":
    sys.exit(main())
