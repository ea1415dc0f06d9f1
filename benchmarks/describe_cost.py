"""What one description costs on this CPU, before and after cutting what it does not need.

    PYTHONPATH=. python -m benchmarks.describe_cost --repeats 3 --frames 3

The real engine (``DescriptionEngine``) with the demo's model describes the same frames one at a time
in each arm, arms interleaved per repeat (machine drift hits every arm alike):

- ``before``: the engine's defaults (all 576 visual tokens, a 256-token answer budget, torch's threads);
- ``pruned_short``: ID-Selection to 64 visual tokens and a 48-token answer budget;
- ``demo``: the demo's settings (``vigil_tools/demo.py`` ``DEMO_ENGINE``: the above, one torch thread, strict
  speculative decoding from recent answers), frozen before this run.

Per arm: prefill, decode and total milliseconds per description, visual and prompt tokens, tokens
generated, and whether every answer parsed; medians over repeats with a 95% interval, and the
before/demo ratio of the time per description. Writes benchmarks/results/describe_cost.json.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from pathlib import Path

from benchmarks.provenance import Provenance, interleaved, ratio, summarize
from vigil_tools.demo import DEMO_ENGINE

ROOT = Path(__file__).resolve().parents[1]
MODEL = "smollm_llava"
ARMS = {
    "before": {},
    "pruned_short": {"pruner": {"method": "id_selection", "budget": 64}, "max_new_tokens": 48},
    "demo": DEMO_ENGINE,
}
CLIP = "bikes.mp4"
FRAME_STEP = 50          # frames this far apart in the clip are different scenes of the montage
BOX = [120.0, 40.0, 260.0, 250.0]   # a box the prompt names (the cost does not depend on where it is)


def frames(n: int):
    from vigil.footage import read_frames
    import cv2
    return [cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f in read_frames(CLIP, step=FRAME_STEP, limit=n)]


async def describe_all(engine, images, tag: str) -> list[dict]:
    from cloud.answer.request import DescribeRequest
    out = []
    for i, img in enumerate(images):
        req = DescribeRequest(request_id=f"{tag}-{i}", camera_id="cam-1", event_id=f"ev-{i}", images=[img],
                              detections=[{"label": "person", "score": 0.8, "box": BOX}],
                              hints={"counts": {"person": 1}, "camera_name": "Front gate"}, severity=0.5)
        t0 = time.perf_counter()
        r = await engine.describe(req)
        out.append({"wall_ms": (time.perf_counter() - t0) * 1e3, "prefill_ms": r.prefill_ms,
                    "decode_ms": r.decode_ms, "generated": r.generated_tokens, "visual": r.visual_tokens,
                    "visual_before": r.visual_tokens_before_prune, "prompt": r.prompt_tokens})
    return out


async def run(repeats: int, n_frames: int) -> dict:
    from cloud.engine.config import EngineConfig
    from cloud.engine.engine import DescriptionEngine
    images = frames(n_frames)
    engines = {}
    for arm, settings in ARMS.items():
        engines[arm] = DescriptionEngine.from_config(EngineConfig(model=MODEL, **settings)).start(wait=True)
        await describe_all(engines[arm], images[:1], f"warm-{arm}")   # first call pays one-off costs
    per_repeat: dict[str, list[dict]] = {arm: [] for arm in ARMS}
    raw: dict[str, list[dict]] = {arm: [] for arm in ARMS}
    for r, arm in interleaved(list(ARMS), repeats):
        rows = await describe_all(engines[arm], images, f"{arm}-{r}")
        raw[arm] += rows
        per_repeat[arm].append({k: statistics.fmean(x[k] for x in rows) for k in rows[0]})
    for e in engines.values():
        await e.close()
    arms = {}
    for arm in ARMS:
        reps = per_repeat[arm]
        arms[arm] = {"settings": ARMS[arm],
                     **{k: summarize([x[k] for x in reps]) for k in ("wall_ms", "prefill_ms", "decode_ms", "generated")},
                     "visual_tokens": raw[arm][0]["visual"], "visual_tokens_before": raw[arm][0]["visual_before"],
                     "prompt_tokens": raw[arm][0]["prompt"], "descriptions": len(raw[arm])}
    return {"arms": arms,
            "speedup_demo_vs_before": ratio([x["wall_ms"] for x in per_repeat["before"]],
                                            [x["wall_ms"] for x in per_repeat["demo"]]),
            "speedup_pruned_short_vs_before": ratio([x["wall_ms"] for x in per_repeat["before"]],
                                                    [x["wall_ms"] for x in per_repeat["pruned_short"]])}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--frames", type=int, default=3, help="descriptions per arm and repeat")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/describe_cost.json")
    a = ap.parse_args(argv)
    prov = Provenance(seeds={"engine": 0})
    result = {"benchmark": "describe_cost", "model": MODEL, "clip": CLIP, "frame_step": FRAME_STEP,
              "repeats": a.repeats, "frames": a.frames, "one_at_a_time": True,
              **asyncio.run(run(a.repeats, a.frames)),
              "note": "one description at a time (no batching: that is the describe queue's, see soak.json); "
                      "the machine is shared, read the numbers with provenance.load_*",
              "provenance": {**prov.finish(), "repeats": a.repeats}}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({arm: {k: v["median"] for k, v in s.items() if isinstance(v, dict) and "median" in v}
                      for arm, s in result["arms"].items()}))
    print(json.dumps(result["speedup_demo_vs_before"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
