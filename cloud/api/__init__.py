"""The operator HTTP API (aiohttp) and the ingest's hooks it reads (live.py, live_relay.py)."""
