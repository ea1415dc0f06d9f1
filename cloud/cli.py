"""`vigil-cloud`: run the cloud ingest + description service.

Exit status: 0 after a clean shutdown (SIGTERM/SIGINT, alerts drained), 1 when the
model cannot load (so a supervisor's restart policy sees the failure instead of a
server that listens but can never describe), 2 for a configuration error.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from vigil.demo_secrets import demo_flag, refusal
from vigil.logs import add_common_args, common_overrides
from vigil.settings import load_for_cli
from vigil.signals import stop_on_signals

log = logging.getLogger("vigil.cloud")
EXIT_MODEL_FAILED = 1
EXIT_CONFIG = 2


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vigil-cloud", description="Vigil cloud: receive edge frames over gRPC, "
                                "describe events with a multimodal LLM, deliver signed webhook alerts.")
    p.add_argument("--config", help="YAML config file (env overrides: VIGIL_CLOUD__SECTION__KEY=value)")
    p.add_argument("--port", type=int, help="gRPC port (overrides server.port)")
    p.add_argument("--webhook", action="append", default=[], metavar="URL",
                   help="deliver alerts to this URL (repeatable; secret from VIGIL_WEBHOOK_SECRET)")
    p.add_argument("--model", help="model checkpoint dir or hub id (overrides engine.model)")
    p.add_argument("--demo", action="store_true", help="allow the published demo token and webhook secret")
    p.add_argument("--role", choices=["single", "gateway", "worker", "delivery"],
                   help="scale.mode redis: which process this is (gateway: edges' gRPC endpoint, queues packets; "
                        "worker: describes queued jobs; delivery: sends committed alerts). Default: single")
    p.add_argument("--check-config", action="store_true", help="validate the configuration and exit")
    p.add_argument("--dead-letters", choices=["list", "replay"],
                   help="list the outbox's dead letters, or make them pending again (a running cloud sends them "
                        "within a second; otherwise the next start does), and exit")
    p.add_argument("--dead-jobs", choices=["list", "replay"],
                   help="scale.mode redis: list the jobs workers gave up on (scale.max_deliveries), or queue them "
                        "again, and exit")
    p.add_argument("--new-token", metavar="EDGE_ID",
                   help="make a random token for an edge: prints the token (give it to the edge) and the line for "
                        "auth.token_file (the cloud stores only its digest), and exit")
    p.add_argument("--make-ca", metavar="DIR",
                   help="write a local CA, a server certificate (for --hosts) and edge certificates (for --edges) "
                        "to DIR, and exit")
    p.add_argument("--hosts", default="localhost,127.0.0.1", help="with --make-ca: the cloud's names/IPs, comma-separated")
    p.add_argument("--edges", default="", help="with --make-ca: edge ids that get a client certificate (mutual TLS)")
    p.add_argument("--sink", help="with --dead-letters: only this endpoint (its name as listed)")
    p.add_argument("--alert", help="with --dead-letters: only this alert id")
    add_common_args(p)
    return p


async def serve(cfg) -> int:
    from cloud.service import CloudService
    service = CloudService(cfg)
    try:
        await service.start()
    except OSError:
        service.outbox.close()
        raise
    stop = stop_on_signals()
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
    log.info("shutting down: draining alerts (at most %gs)", cfg.alerts.drain_timeout_s)
    await service.health.set_serving(False)
    await service.shutdown(cfg.alerts.drain_timeout_s)
    return 0


def main(argv: list[str] | None = None) -> int:
    import os
    import sys
    args = build_parser().parse_args(argv)
    if args.make_ca:
        from cloud.ingest.local_ca import make_ca
        out = make_ca(args.make_ca, [h for h in args.hosts.split(",") if h], [e for e in args.edges.split(",") if e])
        print(f"wrote {', '.join(sorted(p.name for p in out.iterdir()))} to {out} (keep ca.key offline)")
        return 0
    if args.new_token:
        from cloud.ingest.auth import hash_token, new_token
        token = new_token()
        print(f"token for the edge (cloud.token):   {token}")
        print(f"line for the cloud's auth.token_file: {args.new_token} {hash_token(token)}")
        return 0
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
    if args.dead_letters:
        from cloud.alerts.dead_letters import run as dead_letters
        return dead_letters(cfg, args.dead_letters, sink=args.sink, alert_id=args.alert)
    if args.dead_jobs:
        if cfg.scale.mode != "redis":
            print("vigil-cloud: --dead-jobs needs scale.mode: redis", file=sys.stderr)
            return EXIT_CONFIG
        from cloud.scale.dead_jobs import run as dead_jobs
        return dead_jobs(cfg, args.dead_jobs)
    if not cfg.demo and cfg.demo_secret_keys():
        print(refusal("vigil-cloud", cfg.demo_secret_keys()), file=sys.stderr)
        return EXIT_CONFIG
    from cloud.scale.roles import role_error
    bad_role = role_error(args.role, cfg.scale.mode)
    if bad_role:
        print(f"vigil-cloud: {bad_role}", file=sys.stderr)
        return EXIT_CONFIG
    from cloud.ingest.grpc_server import BindError
    try:
        if args.role in (None, "single"):
            return asyncio.run(serve(cfg))
        from cloud.scale.redis_checks import RedisUnavailable
        from cloud.scale.roles import serve_role
        try:
            return asyncio.run(serve_role(cfg, args.role))
        except RedisUnavailable as exc:
            print(f"vigil-cloud: {exc}", file=sys.stderr)
            return 1
    except BindError as exc:
        print(f"vigil-cloud: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
