"""Synchronous successive halving: rungs, ranking, and compacting survivors into smaller batches.

Masking losers inside ``vmap`` would save nothing (both sides of a ``cond`` run), so the
survivors' rows are gathered into new, smaller blocks and the programs for the smaller
trial counts take over: compute really drops.
"""

import math

import numpy as np

from . import _mesh
from ._result import OK


def structure_key(static: dict) -> tuple:
    """A hashable key for a trial's structural hyperparameters: one compiled program each."""
    return tuple(sorted((k, repr(v)) for k, v in static.items()))


def round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


class Block:
    """A batch of trials of one structure that runs as one vmapped program."""

    def __init__(self, static, idx, numeric, keys, carry=None, pad=0):
        self.static, self.idx, self.numeric, self.keys, self.carry, self.pad = static, idx, numeric, keys, carry, pad


def rungs(steps: int, chunk_steps: int, eta, min_steps) -> set:
    """The steps after which successive halving keeps the best ``1/eta``: ``min_steps * eta**k``,
    on whole chunks (``min_steps`` defaults to ``steps / eta**2``)."""
    if eta is None:
        return set()
    k = chunk_steps
    r = min_steps if min_steps is not None else steps / eta ** 2
    r = max(k, int(math.ceil(r / k)) * k)
    rungs = set()
    while r < steps:
        rungs.add(r)
        r = int(math.ceil(r * eta / k)) * k
    return rungs


def halve(blocks, eta, goal, history, status, stopped, step, chunk_size, pad_to, mesh):
    """Keep the best ``ceil(n / eta)`` trials (NaN and diverged last); compact them into new blocks."""
    alive = [i for b in blocks for i in b.idx]
    sign = 1.0 if goal == "min" else -1.0

    def rank(i):
        m = history[i]["metric"][-1]
        return (status[i] != OK or not math.isfinite(m), sign * m if math.isfinite(m) else 0.0)

    keep = set(sorted(alive, key=rank)[: max(1, math.ceil(len(alive) / eta))])
    for i in alive:
        if i not in keep:
            stopped[i] = step
    merged = {}
    for b in blocks:
        rows = [r for r, i in enumerate(b.idx) if i in keep]
        if rows:
            key = tuple(sorted((k, repr(v)) for k, v in b.static.items()))
            part = (b.idx[rows], _mesh.take((b.numeric, b.keys, b.carry), rows, mesh, split=False))
            merged.setdefault(key, (b.static, []))[1].append(part)
    out = []
    for static, parts in merged.values():
        idx = np.concatenate([p[0] for p in parts])
        rows_tree = _mesh.concat([p[1] for p in parts], mesh)
        size = chunk_size or round_up(len(idx), pad_to)
        for s in range(0, len(idx), size):
            part_idx = idx[s:s + size]
            rows = np.concatenate([np.arange(s, s + len(part_idx)), np.full(size - len(part_idx), s)])
            numeric, keys, carry = _mesh.take(rows_tree, rows, mesh)
            out.append(Block(static, part_idx, numeric, keys, carry, size - len(part_idx)))
    return out
