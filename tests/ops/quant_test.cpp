// Per-op tests for the quant ops (filled in with the ops).
