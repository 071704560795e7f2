// Per-op tests for the training ops (filled in with the ops).
