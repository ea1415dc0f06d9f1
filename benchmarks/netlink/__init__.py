"""A real shaped link for transmission benchmarks.

netns.py (namespaces + veth + tc tbf, link down/up), relay.py (TCP delay relay; rate meter in
emulator mode), linkmodel.py (a pure bottleneck model for unit tests), scenario.py (scripted
cameras and events), cloud_proc.py / edge_proc.py (the two sides, each its own process).
Packet loss is not emulated anywhere: this kernel has no netem.
"""
