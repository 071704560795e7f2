// Per-op tests for the moe ops (filled in with the ops).
