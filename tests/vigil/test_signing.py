from vigil.signing import signed_headers, verify


def test_roundtrip_and_tamper():
    body = b'{"alert_id":"a"}'
    h = signed_headers("s3cret-key", body, now=1000)
    assert verify("s3cret-key", h, body, now=1001)
    assert not verify("s3cret-key", h, body + b" ", now=1001)          # body changed
    assert not verify("other-key!", h, body, now=1001)                 # wrong secret
    assert not verify("s3cret-key", h, body, now=1000 + 3600)          # replayed much later
    assert not verify("s3cret-key", {}, body, now=1000)                # unsigned
