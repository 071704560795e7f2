// Per-op tests for the norm_fused ops (filled in with the ops).
