"""`vigil-cloud`: run the cloud ingest + description service."""
from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from vigil.settings import load_for_cli


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vigil-cloud", description="Vigil cloud: receive edge frames over gRPC, "
                                "describe events with a multimodal LLM, deliver signed webhook alerts.")
    p.add_argument("--config", help="YAML config file (env overrides: VIGIL_CLOUD__SECTION__KEY=value)")
    p.add_argument("--port", type=int, help="gRPC port (overrides server.port)")
    p.add_argument("--webhook", action="append", default=[], metavar="URL",
                   help="deliver alerts to this URL (repeatable; secret from VIGIL_WEBHOOK_SECRET)")
    p.add_argument("--model", help="model checkpoint dir or hub id (overrides engine.model)")
    p.add_argument("--check-config", action="store_true", help="validate the configuration and exit")
    return p


async def serve(cfg) -> None:
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
    await stop.wait()
    logging.getLogger("vigil.cloud").info("shutting down: draining alerts")
    await service.drain(timeout_s=cfg.alerts.describe_deadline_s + 5)
    await service.stop()


def main(argv: list[str] | None = None) -> int:
    import os
    args = build_parser().parse_args(argv)
    from cloud.config import load_cloud_config
    overrides: dict = {}
    if args.port is not None:
        overrides["server"] = {"port": args.port}
    if args.webhook:
        secret = os.environ.get("VIGIL_WEBHOOK_SECRET", "")
        overrides["alerts"] = {"webhooks": [{"url": u, "secret": secret} for u in args.webhook]}
    if args.model:
        overrides["engine"] = {"model": args.model}
    cfg = load_for_cli("vigil-cloud", load_cloud_config, args.config, overrides, check_only=args.check_config)
    try:
        asyncio.run(serve(cfg))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
