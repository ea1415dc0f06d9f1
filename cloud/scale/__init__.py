"""Scale-out mode: gRPC gateways, model workers and one delivery process around Redis Streams.

gateway.py (edges -> job stream), worker.py (job stream -> engine -> alert ledger), delivery.py
(alert stream -> outbox -> sinks), edge_replies.py (worker -> gateway -> edge), jobs.py and ledger.py (the Redis side, Lua scripts where two
steps must be one), policy.py (pure decisions), roles.py (what `vigil-cloud --role` runs).
"""
