"""The real engine's stats carry what /metrics exports: KV bytes held while a batch runs (tiny Qwen2.5-VL, CPU)."""
import asyncio
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np

from cloud.engine import DescribeRequest, DescriptionEngine, EngineConfig
from cloud.metrics import CloudMetrics, MeteredEngine
from cloud.models.qwen2_5_vl import Qwen2_5_VLAdapter


def test_kv_bytes_rise_while_describing_and_latency_is_observed():
    async def main():
        eng = DescriptionEngine(EngineConfig(max_new_tokens=48), adapter=Qwen2_5_VLAdapter.tiny(seed=2)).start()
        metrics = CloudMetrics()
        metered = MeteredEngine(eng, metrics)
        img = np.random.default_rng(0).integers(0, 255, (96, 128, 3), dtype=np.uint8)
        seen = []
        try:
            await eng.ready()
            idle = eng.stats()["kv_bytes"]
            task = asyncio.ensure_future(metered.describe(DescribeRequest(
                request_id="r0", camera_id="c", event_id="e", images=[img], detections=[], hints={})))
            while not task.done():
                seen.append(eng.stats()["kv_bytes"])
                await asyncio.sleep(0.001)
            await task
        finally:
            await eng.close()
        return idle, max(seen), metrics.render().decode()

    idle, peak, text = asyncio.run(main())
    assert idle == 0 and peak > 0
    assert 'vigil_cloud_model_latency_seconds_count{phase="decode"} 1.0' in text
    assert "vigil_cloud_visual_tokens_kept_count 1.0" in text
