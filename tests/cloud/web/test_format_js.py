"""The page's number formatting (cloud/web/format.js), run in Node: rounded durations, threat words,
Unix times in the viewer's zone. Skipped where Node is not installed (the page tests cover it in Chromium)."""
import json
import shutil
import subprocess
from pathlib import Path

import pytest

FORMAT_JS = Path(__file__).resolve().parents[3] / "cloud/web/format.js"
NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(not NODE, reason="needs node")


def _run(expressions: dict[str, str], tz: str = "UTC") -> dict:
    script = (f"const vm = require('vm'); const ctx = {{Intl, Date, Number, Math, String, Object}}; vm.createContext(ctx);"
              f"vm.runInContext(require('fs').readFileSync({json.dumps(str(FORMAT_JS))}, 'utf8'), ctx);"
              f"const out = {{}}; for (const [k, e] of Object.entries({json.dumps(expressions)})) out[k] = vm.runInContext(e, ctx);"
              "console.log(JSON.stringify(out));")
    done = subprocess.run([NODE, "-e", script], capture_output=True, text=True, timeout=30, env={"TZ": tz})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_durations_are_rounded_as_a_person_reads_them():
    out = _run({"noise": "duration(0.20000004768371582)", "s": "duration(12.4)", "min": "duration(75.4)",
                "h": "duration(7500)", "offset": "sinceOnset(1000.2, 1000)"})
    assert out == {"noise": "0.2 s", "s": "12 s", "min": "1 min 15 s", "h": "2 h 5 min", "offset": "+0.2 s"}


def test_threat_is_in_words_and_never_a_question_mark():
    out = _run({"two": "threatText({threat_level: 2, status: 'ok'})",
                "pending": "threatText({threat_level: null, status: 'pending'})",
                "timeout": "threatText({threat_level: null, status: 'timeout'})",
                "labels": "labelsText({car: 1, person: 3})", "none": "labelsText({})"})
    assert out["two"] == "threat 2 · dangerous" and out["pending"] == "describing…"
    assert "took too long" in out["timeout"] and "?" not in "".join(out.values())
    assert out["labels"] == "3 person, 1 car" and out["none"] == "motion"


def test_times_carry_the_date_in_the_viewers_zone():
    onset = 1796575385.595391          # 2026-12-06 16:43:05 UTC
    utc = _run({"t": f"dateTime({onset})", "zone": "timeZoneName()"}, "UTC")
    tokyo = _run({"t": f"dateTime({onset})", "unix": "localInputToUnix('2026-12-07T00:00:00')"}, "Asia/Tokyo")
    assert "2026" in utc["t"] and "6" in utc["t"] and utc["zone"] == "UTC"
    assert "7" in tokyo["t"] and "1:43" in tokyo["t"]                   # 01:43 on the 7th in Tokyo
    assert float(tokyo["unix"]) == 1796569200.0                          # midnight in Tokyo, as Unix seconds
