// Per-op tests for the kv_cache ops (filled in with the ops).
