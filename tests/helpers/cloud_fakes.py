"""Stand-ins for the cloud service's model and alert sinks, so its gRPC path is tested without a model."""
import asyncio

from cloud.engine.request import DescribeResult
from cloud.schema import EventDescription


class FakeEngine:
    model_name = "fake"

    def __init__(self, delay=0.0, fail=False):
        self.delay, self.fail, self.requests = delay, fail, []

    async def describe(self, req):
        self.requests.append(req)
        await asyncio.sleep(self.delay)
        if self.fail:
            raise RuntimeError("model exploded")
        d = EventDescription(summary="a person", threat_level=1, objects=[{"label": "person", "count": 1}])
        return DescribeResult(req.request_id, d.model_dump_json(), d, 10, 4, 5, 0, 1, 1)

    def backpressure(self):
        return 0.0


class Collect:
    name = "collect"

    def __init__(self):
        self.alerts = []

    async def send(self, alert):
        self.alerts.append(alert)

    async def close(self):
        pass
