"""`vigil-edge`: run the edge agent next to the cameras.

Exit status (vigil/exit_codes.py, docs/exit-codes.md): 0 after the clip ended or a SIGINT/SIGTERM
stop, 1 when it could not run, 2 for a configuration it refuses or the cloud rejects (token, TLS).
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time

from vigil import exit_codes
from vigil.demo_secrets import demo_flag
from vigil.logs import add_common_args, common_overrides
from vigil.settings import load_for_cli
from vigil.signals import stop_on_signals


log = logging.getLogger("vigil.edge")
# On SIGTERM the cameras stop at once and queued frames get this long to reach the cloud (compose's
# stop_grace_period is longer); what is still unacknowledged then stays in the DAT spool for the next start.
SHUTDOWN_FLUSH_S = 15.0


async def run_until_signal(agent, flush_s: float = SHUTDOWN_FLUSH_S):
    """Run the agent to its end (a finite clip) or until SIGTERM/SIGINT, then flush for at most `flush_s`."""
    stopping = stop_on_signals()
    run = asyncio.ensure_future(agent.run())
    signalled = asyncio.ensure_future(stopping.wait())
    await asyncio.wait({run, signalled}, return_when=asyncio.FIRST_COMPLETED)
    signalled.cancel()
    if not run.done():
        log.info("shutting down: cameras stop; sending what is queued (up to %.0f s)", flush_s)
        agent.stop()
        done, _ = await asyncio.wait({run}, timeout=flush_s)
        if not done:
            log.warning("shutdown: %d items still queued after %.0f s; leaving them to the spool",
                        agent.policy.pending(), flush_s)
            run.cancel()
            try:
                await run
            except asyncio.CancelledError:
                pass
            if getattr(agent.policy, "spool", None) is not None:
                # queued and unacknowledged packets go to disk, for the next start to send (the link is
                # gone either way: this is the policy's own offline path)
                agent.policy.on_disconnect(time.time())
            return agent.summary()
    return run.result()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vigil-edge", description="Vigil edge agent: gate camera streams and send "
                                "event frames to the Vigil cloud over gRPC.")
    p.add_argument("--config", help="YAML config file (env overrides: VIGIL_EDGE__SECTION__KEY=value)")
    p.add_argument("--camera", action="append", default=[], metavar="URL",
                   help="camera URL/path/USB index (repeatable; replaces the config's cameras)")
    p.add_argument("--cloud", help="cloud gRPC target host:port (overrides cloud.target)")
    p.add_argument("--policy", choices=["fifo", "dat"], help="transmission policy (overrides transmit.policy)")
    p.add_argument("--health-port", type=int, help="serve GET /healthz on this port (overrides health_port)")
    p.add_argument("--demo", action="store_true", help="allow the published demo token")
    p.add_argument("--check-config", action="store_true", help="validate the configuration and exit")
    add_common_args(p)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from edge.config import load_edge_config
    overrides: dict = common_overrides(args)
    if args.health_port is not None:
        overrides["health_port"] = args.health_port
    if args.demo or demo_flag():
        overrides["demo"] = True
    if args.camera:
        overrides["cameras"] = [{"id": f"cam-{i + 1}", "url": url} for i, url in enumerate(args.camera)]
    if args.cloud:
        overrides["cloud"] = {"target": args.cloud}
    if args.policy:
        overrides["transmit"] = {"policy": args.policy}
    from edge.preflight import refusals
    cfg = load_for_cli("vigil-edge", load_edge_config, args.config, overrides, check_only=args.check_config,
                       refusals=refusals)
    from edge.agent import EdgeAgent
    from edge.client import AuthenticationError, LinkConfigError
    from edge.sources.base import SourceError
    try:
        agent = EdgeAgent(cfg)
        if cfg.metrics.enabled:
            from edge.metrics import serve
            try:
                serve(agent, cfg.metrics)
            except OSError as exc:  # watching the cameras matters more than being scraped
                logging.getLogger("vigil.edge").error("metrics: cannot listen on %s:%d (%s); running without /metrics",
                                                      cfg.metrics.host, cfg.metrics.port, exc.strerror or exc)
        summary = asyncio.run(run_until_signal(agent))
    except (SourceError, LinkConfigError) as exc:
        print(f"vigil-edge: {exc}", file=sys.stderr)
        return exit_codes.CONFIG
    except AuthenticationError as exc:
        # the cameras' and gRPC's threads ran: leave without an interpreter teardown around them
        print(f"vigil-edge: {exc}", file=sys.stderr)
        exit_codes.exit_now(exit_codes.CONFIG)
    except KeyboardInterrupt:  # Ctrl-C before the signal handlers were in place: a clean stop all the same
        return exit_codes.OK
    print("vigil-edge:", summary.line())
    return exit_codes.OK


if __name__ == "__main__":
    raise SystemExit(main())
