"""The engine as a scale-out worker's second descriptions see it: a call waits while the worker computes
a first description.

In the single process one describe queue orders both kinds (cloud/answer/describe_queue.py: every first
description before any second). A worker's first descriptions go straight to its engine, one per job
slot, so its job throughput is what it was; its second descriptions have a queue of their own (a
``QueuedEngine``: bounded, shed and dropped at their deadline, only counted) in front of this gate, so
they use the model only while no first description needs it.
"""
from __future__ import annotations

import asyncio


class AfterFirsts:
    def __init__(self, engine, idle: asyncio.Event):
        self.engine = engine
        self.idle = idle   # set while the worker computes no first description

    def __getattr__(self, name):
        return getattr(self.engine, name)

    async def describe(self, req):
        while not self.idle.is_set():   # a first description may start again before this task runs
            await self.idle.wait()
            await asyncio.sleep(0)
        return await self.engine.describe(req)
