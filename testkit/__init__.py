"""Process harnesses shared by tests and benchmarks: real cloud, edge, scale-out role, Redis and webhook
receiver processes, started, killed and restarted. Product code never imports this package."""
