"""Every background loop of the cloud survives an exception in one iteration and goes on; the log
gets one line per distinct error per minute, not one per tick."""
import asyncio
import logging
from cloud.loops import ErrorLog, run_forever


def test_a_loop_survives_a_failing_iteration_and_logs_it_once(caplog):
    calls = []

    def step():
        calls.append(len(calls))
        if len(calls) <= 5:
            raise KeyError("alert a1")

    async def go():
        task = asyncio.create_task(run_forever("describe deadlines", step, 0.001))
        while len(calls) < 10:
            await asyncio.sleep(0.001)
        alive = not task.done()
        task.cancel()
        return alive
    caplog.set_level(logging.ERROR, "vigil.cloud")
    assert asyncio.run(go())
    lines = [r for r in caplog.records if "describe deadlines loop" in r.getMessage()]
    assert len(lines) == 1 and "alert a1" in lines[0].getMessage() and lines[0].exc_info   # a bug: with its traceback


def test_error_log_says_each_error_once_per_interval():
    now = [0.0]
    errors = ErrorLog(60.0, clock=lambda: now[0])
    assert errors.should_log("a") and not errors.should_log("a") and errors.should_log("b")
    now[0] = 61.0
    assert errors.should_log("a") and errors.errors == 4
