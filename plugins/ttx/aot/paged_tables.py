"""Block tables for the developer checks of the ttx paged kernels (tests/ttx/*_check.py, aot/tune_prefill.py):
sequence b owns need[b] pages drawn without repeats from a seeded permutation of n_blocks, so kernels gather
scattered pages as in serving; unused entries are -1."""
import torch


def shuffled_block_table(need, max_blocks, n_blocks, gen):
    perm = torch.randperm(n_blocks, generator=gen)
    table = torch.full((len(need), max_blocks), -1, dtype=torch.int32)
    nxt = 0
    for b, c in enumerate(need):
        table[b, :c] = perm[nxt:nxt + c].to(torch.int32)
        nxt += c
    return table
