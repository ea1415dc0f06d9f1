"""Bandwidth estimator on a synthetic trace: follows rate changes within about a second,
never reports more than the link delivered."""
from benchmarks.netlink.linkmodel import BottleneckLink

from edge.transmit.dat.estimator import BandwidthEstimator, EstimatorConfig, Pacer

PKT = 4000
STEP = 0.002


def run(rate_fn, owd, until, probe_every=0.05):
    """Backlogged sender limited by the estimator's window and 1.25x pacing; returns (t, rate) trace."""
    est = BandwidthEstimator(EstimatorConfig())
    link = BottleneckLink(rate_fn, owd)
    pacer = Pacer(1.25)
    t, n = 0.0, 0
    trace, max_true = [], 0.0
    while t < until:
        for at, key, _ in link.acks_until(t):
            est.on_ack(key, at)
        if pacer.ready(t) and est.inflight_bytes < est.window_bytes(t):
            n += 1
            est.on_sent(n, PKT, t)
            link.send(t, PKT, n)
            pacer.on_sent(PKT, est.rate(t), t)
        if n and int(t / probe_every) != int((t - STEP) / probe_every):
            trace.append((t, est.rate(t)))
        max_true = max(max_true, rate_fn(t))
        t += STEP
    return trace, est


def at(trace, t):
    return min(trace, key=lambda p: abs(p[0] - t))[1]


def test_follows_a_rate_drop_within_a_second():
    fast, slow = 1_000_000.0, 32_000.0   # 8 Mbit/s -> 256 kbit/s
    trace, _ = run(lambda t: fast if t < 4.0 else slow, 0.02, 6.0)
    assert 0.8 * fast <= at(trace, 3.9) <= 1.05 * fast
    assert at(trace, 5.0) <= 1.3 * slow, "still assumes the old rate 1 s after the drop"
    assert at(trace, 5.9) >= 0.7 * slow, "lost the new rate"


def test_follows_a_rate_rise_by_probing():
    slow, fast = 125_000.0, 1_000_000.0  # 1 Mbit/s -> 8 Mbit/s
    trace, _ = run(lambda t: slow if t < 3.0 else fast, 0.02, 5.0)
    assert at(trace, 2.9) <= 1.05 * slow
    assert at(trace, 4.2) >= 0.7 * fast, "did not find the faster link within ~1 s"


def test_never_assumes_more_than_it_has_seen():
    rate = 32_000.0
    trace, est = run(lambda t: rate, 0.1, 6.0)
    assert max(r for _, r in trace[10:]) <= 1.1 * rate
    assert est.max_seen_rate <= 1.1 * rate
    # silence (outage) keeps the last estimate, never more than measured
    assert est.rate(100.0) <= est.max_seen_rate


def test_rtt_from_ack_echo_and_app_limited_samples_do_not_lower_estimate():
    est = BandwidthEstimator(EstimatorConfig())
    link = BottleneckLink(lambda t: 125_000.0, 0.05)
    t, i = 0.0, 0
    while t < 4.0:  # window-limited sender (18 kB in flight > 1 BDP of 12.5 kB): learns 125 kB/s
        for at_, key, _ in link.acks_until(t):
            est.on_ack(key, at_)
        if est.inflight_bytes < 18_000:
            est.on_sent(i, 5000, t)
            link.send(t, 5000, i)
            i += 1
        t += 0.002
    learned = est.rate(t)
    assert 0.8 * 125_000 <= learned <= 1.05 * 125_000
    assert 0.099 <= est.min_rtt() <= 0.2
    for j in range(10):  # a quiet camera: small app-limited packets, far apart
        est.on_sent(i + j, 300, t, app_limited=True)
        link.send(t, 300, i + j)
        t += 0.3
        for at_, key, _ in link.acks_until(t):
            est.on_ack(key, at_)
    assert est.rate(t) >= 0.8 * learned
