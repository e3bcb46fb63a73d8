"""Blocks: trials of one structure laid out as rows of a fixed-width program.

Every block has exactly ``width`` rows, so one compiled program serves the whole sweep.
Rows past the block's live trials are padding: copies of its first trial, computed and
never reported. When a strategy stops trials, ``repack`` gathers the survivors of each
structure into as few full blocks as possible with one fixed-shape gather program
(``rows`` and ``mask`` of length ``width``), on the device: params never visit the host,
and on a mesh the blocks stay split along the ``"trials"`` axis.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from . import _mesh


class Block:
    """``width`` rows of one layout (``_structure.Layout``): ``trials[j]`` is row ``j``'s
    trial (``len(trials)`` live rows, then padding); ``steps`` each row's step counter;
    device arrays ``numeric`` (per-row hyperparameters), ``extent`` (per-row member and
    sizes), ``keys`` (per-row PRNG keys) and ``carry`` (params, model state, optimizer
    state)."""

    def __init__(self, layout, trials, steps, numeric, extent, keys, carry=None):
        self.layout, self.trials, self.steps = layout, np.asarray(trials, np.int64), np.asarray(steps, np.int64)
        self.numeric, self.extent, self.keys, self.carry = numeric, extent, keys, carry

    @property
    def static(self) -> dict:
        return self.layout.static

    @property
    def width(self) -> int:
        return len(self.steps)


@jax.jit
def trial_keys(root, trials):
    """Replica ``r`` of configuration ``id_c`` trains with ``fold_in(fold_in(root, id_c), r)``;
    ``trials`` holds ``(id_c, r)`` pairs."""
    return jax.vmap(lambda t: jax.random.fold_in(jax.random.fold_in(root, t[0]), t[1]))(trials)


def new(layout, trials: list, numeric_rows: dict, extent_rows: np.ndarray, id_pairs: np.ndarray, root, width: int,
        mesh) -> list:
    """Blocks (without carry) for ``trials`` of one layout, ``width`` rows each."""
    out = []
    for s in range(0, len(trials), width):
        live = np.asarray(trials[s:s + width])
        rows = np.concatenate([np.arange(s, s + len(live)), np.full(width - len(live), s)])
        numeric = {k: np.asarray(v)[rows] for k, v in numeric_rows.items()}  # float32, int32 if traced=True
        keys = np.asarray(trial_keys(root, id_pairs[rows].astype(np.uint32)))
        out.append(Block(layout, live, np.zeros(width, np.int64), _mesh.place(numeric, mesh),
                         _mesh.place(extent_rows[rows], mesh), _mesh.place(keys, mesh)))
    return out


@functools.lru_cache(maxsize=None)
def _merge_program(mesh):
    sharding = None if mesh is None else NamedSharding(mesh, P(_mesh.TRIALS))

    def merge(dst, src, rows, mask):
        def one(d, s):
            taken = s[rows] if sharding is None else s.at[rows].get(out_sharding=sharding)
            return jnp.where(mask.reshape((-1,) + (1,) * (d.ndim - 1)), taken, d)

        return jax.tree.map(one, dst, src)

    return jax.jit(merge)


def copy_rows(pairs: list, mesh) -> None:
    """``(dst_block, dst_row, src_block, src_row)``: each dst row's carry (params, model and
    optimizer state) and extent (its member: sizes go along with the weights) become the
    src row's, read before any is written. One fixed-shape gather per (dst, src) pair of
    blocks, on the device; keys and hyperparameters stay."""
    groups = {}
    for db, dj, sb, sj in pairs:
        groups.setdefault(id(db), (db, {}))[1].setdefault(id(sb), (sb, []))[1].append((dj, sj))
    before = {id(b): (b.extent, b.carry) for db, _, sb, _ in pairs for b in (db, sb)}  # sources as they were
    for db, sources in groups.values():
        carry = (db.extent, db.carry)
        for sb, moves in sources.values():
            rows, mask = np.zeros(db.width, np.int32), np.zeros(db.width, bool)
            for dj, sj in moves:
                rows[dj], mask[dj] = sj, True
            rows = rows if mesh is None else _mesh.replicate(rows, mesh)
            carry = _merge_program(mesh)(carry, before[id(sb)], rows, _mesh.place(mask, mesh))
        db.extent, db.carry = carry


def repack(blocks: list, keep: set, width: int, mesh) -> list:
    """Blocks holding only the trials in ``keep``, packed ``width`` rows per block.

    A full block whose live trials are all kept stays as it is, and so does the one
    part-full block of a structure; the kept rows of the others (blocks that lost rows,
    or several part-full ones, such as survivors and trials just started) are gathered,
    per structure, into new full blocks (fixed shapes: one compile each).
    """
    out, partial, ragged = [], {}, {}
    kept = [[j for j, t in enumerate(b.trials) if int(t) in keep] for b in blocks]
    for b, rows in zip(blocks, kept):
        if len(rows) < b.width:
            ragged[b.layout.key] = ragged.get(b.layout.key, 0) + 1
    for b, rows in zip(blocks, kept):
        if len(rows) == len(b.trials) and (len(rows) == b.width or ragged[b.layout.key] == 1):
            out.append(b)
        elif rows:
            partial.setdefault(b.layout.key, []).extend((b, j) for j in rows)
    for parts in partial.values():
        for s in range(0, len(parts), width):
            chunk = parts[s:s + width]
            sources = list(dict.fromkeys(id(b) for b, _ in chunk))
            fill = chunk + [chunk[0]] * (width - len(chunk))  # padding repeats the first trial
            merged = None
            for src_id in sources:
                src = next(b for b, _ in chunk if id(b) == src_id)
                rows = np.array([j if id(b) == src_id else 0 for b, j in fill], np.int32)
                mask = np.array([id(b) == src_id for b, _ in fill])
                tree = (src.numeric, src.extent, src.keys, src.carry)
                rows = rows if mesh is None else _mesh.replicate(rows, mesh)
                merged = _merge_program(mesh)(tree if merged is None else merged, tree, rows, _mesh.place(mask, mesh))
            numeric, extent, keys, carry = merged
            out.append(Block(chunk[0][0].layout, [b.trials[j] for b, j in chunk],
                             [b.steps[j] for b, j in fill], numeric, extent, keys, carry))
    return out
