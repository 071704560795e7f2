// Per-op tests for the linear_family ops (filled in with the ops).
