// Per-op tests for the sampling ops (filled in with the ops).
