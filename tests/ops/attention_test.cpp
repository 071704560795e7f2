// Per-op tests for the attention ops (filled in with the ops).
