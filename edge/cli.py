"""`vigil-edge`: run the edge agent next to the cameras."""
from __future__ import annotations

import argparse
import asyncio
import sys

from vigil.settings import load_for_cli


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vigil-edge", description="Vigil edge agent: gate camera streams and send "
                                "event frames to the Vigil cloud over gRPC.")
    p.add_argument("--config", help="YAML config file (env overrides: VIGIL_EDGE__SECTION__KEY=value)")
    p.add_argument("--camera", action="append", default=[], metavar="URL",
                   help="camera URL/path/USB index (repeatable; replaces the config's cameras)")
    p.add_argument("--cloud", help="cloud gRPC target host:port (overrides cloud.target)")
    p.add_argument("--policy", choices=["fifo", "dat"], help="transmission policy (overrides transmit.policy)")
    p.add_argument("--check-config", action="store_true", help="validate the configuration and exit")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from edge.config import load_edge_config
    overrides: dict = {}
    if args.camera:
        overrides["cameras"] = [{"id": f"cam-{i + 1}", "url": url} for i, url in enumerate(args.camera)]
    if args.cloud:
        overrides["cloud"] = {"target": args.cloud}
    if args.policy:
        overrides["transmit"] = {"policy": args.policy}
    cfg = load_for_cli("vigil-edge", load_edge_config, args.config, overrides, check_only=args.check_config)
    from edge.agent import EdgeAgent
    from edge.client import AuthenticationError
    from edge.sources.base import SourceError
    try:
        agent = EdgeAgent(cfg)
        if cfg.metrics.enabled:
            from edge.metrics import serve
            serve(agent, cfg.metrics)
        summary = asyncio.run(agent.run())
    except SourceError as exc:
        print(f"vigil-edge: {exc}", file=sys.stderr)
        return 2
    except AuthenticationError as exc:
        print(f"vigil-edge: {exc}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        return 130
    print("vigil-edge:", summary.line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
