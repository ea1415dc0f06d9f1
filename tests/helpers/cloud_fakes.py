"""Stand-ins for the cloud service's model and alert sinks, so its gRPC path is tested without a model."""
import asyncio

from cloud.answer.request import DescribeResult
from cloud.answer.schema import EventDescription


class FakeEngine:
    model_name = "fake"
    sees_images = True

    def __init__(self, delay=0.0, fail=False):
        self.delay, self.fail, self.requests = delay, fail, []

    async def describe(self, req):
        self.requests.append(req)
        await asyncio.sleep(self.delay)
        if self.fail:
            raise RuntimeError("model exploded")
        d = EventDescription(summary="a person", threat_level=1, objects=[{"label": "person", "count": 1}],
                             narrative="A person walks up to the door.")
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


async def serve_ingest(servicer):
    """A real gRPC server on a free loopback port with `servicer` as the cloud's Ingest service:
    (server, port); stop it with `await server.stop(0)`."""
    import grpc

    from vigil.v1 import vigil_pb2_grpc as pb_grpc

    server = grpc.aio.server()
    pb_grpc.add_IngestServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, port
