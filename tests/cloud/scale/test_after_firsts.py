"""A worker's second description reaches the model only while the worker computes no first description."""
import asyncio

from cloud.scale.after_firsts import AfterFirsts


class Engine:
    model_name = "stub"

    def __init__(self):
        self.calls = []

    async def describe(self, req):
        self.calls.append(req)
        return req


def test_a_second_description_waits_for_the_first_ones():
    async def go():
        engine, idle = Engine(), asyncio.Event()
        gate = AfterFirsts(engine, idle)
        task = asyncio.create_task(gate.describe("again"))
        await asyncio.sleep(0.05)
        waited = list(engine.calls)
        idle.set()
        return waited, await task, engine.calls, gate.model_name

    waited, answer, calls, name = asyncio.run(go())
    assert waited == [] and answer == "again" and calls == ["again"] and name == "stub"
