"""KV presses by name (KVCacheConfig.method): HybridKV and its baselines, one file each."""
