"""The pure parts of `make compose-check` (benchmarks/compose_check.py): reading webhook-echo's log and
judging the stop order. The check itself needs a Docker engine and is not part of `make test`."""
from benchmarks.compose_check import ALERT_LINE, ANSI, STOP_ORDER, _in_order


def test_alert_lines_are_read_from_compose_logs_with_timestamps_and_colour_codes():
    line = ANSI.sub("", "\x1b[2K2026-12-06T17:51:18.768244296Z [alert f4baafde] detected  camera=cam-1 event=e")
    m = ALERT_LINE.match(line)
    assert m and m.group(1) == "2026-12-06T17:51:18" and m.groups()[2:] == ("f4baafde", "detected")
    assert not ALERT_LINE.match("2026-12-06T17:50:43.075497471Z webhook-echo listening on 0.0.0.0:8080")


def test_stop_order_is_judged_per_role_with_scaled_workers():
    scale = STOP_ORDER["scale"]
    assert _in_order(["edge-1", "gateway-1", "worker-2", "worker-1", "delivery-1", "redis-1"], scale)
    assert not _in_order(["edge-1", "worker-1", "gateway-1", "worker-2", "delivery-1"], scale)
    assert not _in_order(["edge-1", "gateway-1", "delivery-1", "worker-1"], scale)
    assert not _in_order(["edge-1", "gateway-1", "delivery-1"], scale)          # a role that never ran
    assert _in_order(["edge-1", "cloud-1", "webhook-echo-1"], STOP_ORDER["cpu"])


def test_the_check_builds_one_service_per_image_and_every_image(compose):
    from benchmarks.compose_check import BUILD_SERVICES, IMAGES
    services = compose.spec["services"]
    built = {svc["image"] for svc in services.values() if "build" in svc and "gpu" not in svc.get("profiles", [])}
    assert {services[n]["image"] for n in BUILD_SERVICES} == built == set(IMAGES)
