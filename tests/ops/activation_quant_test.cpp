// Per-op tests for the activation_quant ops (filled in with the ops).
