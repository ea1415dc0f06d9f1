"""The demo takes the first model that loads and says so; one that cannot load costs a line, not the demo."""
import asyncio

from vigil_tools.demo import DEMO_MODELS, start_cloud
from vigil_tools.webhook_echo import WebhookReceiver


def test_first_loadable_model_is_used_and_named(capsys):
    rx = WebhookReceiver("demo-test-secret", quiet=True).start()

    async def go():
        service, model = await start_cloud(rx, "demo-test-secret", ["no-such-model", "tiny:qwen2_5_vl"], 30.0)
        await service.stop()
        return model
    try:
        model = asyncio.run(go())
    finally:
        rx.stop()
    out = capsys.readouterr().out
    assert model == "tiny:qwen2_5_vl"
    assert "model no-such-model is not available here" in out and "model tiny:qwen2_5_vl loaded" in out


def test_the_demo_uses_smollm_until_the_benchmark_vlm_sees():
    assert DEMO_MODELS == ("smollm_llava",)
