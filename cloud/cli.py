"""`vigil-cloud`: run the cloud ingest + description service.

Exit status: 0 after a clean shutdown (SIGTERM/SIGINT, alerts drained), 1 when the
model cannot load (so a supervisor's restart policy sees the failure instead of a
server that listens but can never describe), 2 for a configuration error.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from vigil.demo_secrets import demo_flag, refusal
from vigil.logs import add_common_args, common_overrides
from vigil.settings import load_for_cli

log = logging.getLogger("vigil.cloud")
EXIT_MODEL_FAILED = 1
EXIT_CONFIG = 2
DRAIN_SLACK_S = 5.0   # beyond the describe deadline, for the last webhooks to go out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vigil-cloud", description="Vigil cloud: receive edge frames over gRPC, "
                                "describe events with a multimodal LLM, deliver signed webhook alerts.")
    p.add_argument("--config", help="YAML config file (env overrides: VIGIL_CLOUD__SECTION__KEY=value)")
    p.add_argument("--port", type=int, help="gRPC port (overrides server.port)")
    p.add_argument("--webhook", action="append", default=[], metavar="URL",
                   help="deliver alerts to this URL (repeatable; secret from VIGIL_WEBHOOK_SECRET)")
    p.add_argument("--model", help="model checkpoint dir or hub id (overrides engine.model)")
    p.add_argument("--demo", action="store_true", help="allow the published demo token and webhook secret")
    p.add_argument("--check-config", action="store_true", help="validate the configuration and exit")
    add_common_args(p)
    return p


async def serve(cfg) -> int:
    from cloud.server import CloudService
    service = CloudService(cfg)
    await service.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except NotImplementedError:  # pragma: no cover
            pass
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({service.model_loaded, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if service.model_loaded.done() and service.model_loaded.exception() is not None:
        log.error("model could not be loaded (%s); exiting", service.model_loaded.exception())
        stopping.cancel()
        await service.stop()
        return EXIT_MODEL_FAILED
    if service.model_loaded.done():
        log.info("model loaded: %s; serving", getattr(service.engine, "model_name", "engine"))
    await stopping
    log.info("shutting down: draining alerts")
    await service.health.set_serving(False)
    await service.drain(timeout_s=cfg.alerts.describe_deadline_s + DRAIN_SLACK_S)
    await service.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    import os
    import sys
    args = build_parser().parse_args(argv)
    from cloud.config import load_cloud_config
    overrides: dict = common_overrides(args)
    if args.port is not None:
        overrides["server"] = {"port": args.port}
    if args.webhook:
        secret = os.environ.get("VIGIL_WEBHOOK_SECRET", "")
        overrides["alerts"] = {"webhooks": [{"url": u, "secret": secret} for u in args.webhook]}
    if args.model:
        overrides["engine"] = {"model": args.model}
    if args.demo or demo_flag():
        overrides["demo"] = True
    cfg = load_for_cli("vigil-cloud", load_cloud_config, args.config, overrides, check_only=args.check_config)
    if not cfg.demo and cfg.demo_secret_keys():
        print(refusal("vigil-cloud", cfg.demo_secret_keys()), file=sys.stderr)
        return EXIT_CONFIG
    try:
        return asyncio.run(serve(cfg))
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
