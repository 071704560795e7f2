// Per-op tests for the position_fused ops (filled in with the ops).
