"""Feeding data to a sweep: batches drawn inside the compiled program, or streamed.

``data`` is a pytree of arrays with one row per example, passed to every program
as an argument (never baked in as a constant; replicated on a mesh, each process
feeding its local copy), a function ``(key, step) -> batch``, or a stream of host
batches (``_stream.py``: each chunk's batches are stacked, placed, and shared by every
trial). Batches come from a
*stream key*: the trial's own, or with ``shared_batches`` one shared by every trial
(common random numbers).

* ``sampling="epochs"`` (default): shuffled epochs without replacement. Epoch ``e`` is
  the permutation drawn from ``fold_in(stream, e)``; step ``t`` takes rows
  ``[i * B, (i + 1) * B)`` of it, ``i = t % steps_per_epoch``, ``steps_per_epoch = n // B``
  (the last partial batch of an epoch is dropped). Each chunk draws the permutations of
  the epochs it spans once, not one per step.
* ``sampling="replacement"``: each step draws ``B`` rows with replacement from
  ``fold_in(stream, t)``.
"""

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from . import _mesh
from ._stream import Feeder, as_stream


def leading(fn: str, name: str, tree) -> int:
    """The common leading (example) dimension of ``tree``'s arrays; raises if they differ."""
    sizes = {jax.tree_util.keystr(p): np.shape(x)[0] if np.ndim(x) else None
             for p, x in jax.tree_util.tree_flatten_with_path(tree)[0]}
    if not sizes or None in sizes.values() or len(set(sizes.values())) != 1:
        raise ValueError(
            f"{fn}: every array in {name} needs the same leading (example) dimension, got {sizes}. "
            "Pass arrays with one row per example, e.g. {'x': x_train, 'y': y_train}."
        )
    return next(iter(sizes.values()))


SAMPLINGS = ("epochs", "replacement")


class _Fixed:
    """Arrays or a batch function: the same program argument for every chunk."""

    def __init__(self, argument):
        self.argument = argument

    def current(self):
        return self.argument

    def advance(self) -> None:
        pass

    def close(self) -> None:
        pass


class Feed:
    """Where a runner's batches come from; ``plan`` and ``batch`` run traced."""

    def __init__(self, data: Any, batch_size: int, sampling: str = "epochs"):
        if sampling not in SAMPLINGS:
            raise ValueError(f"Runner: sampling must be one of {SAMPLINGS}, got sampling={sampling!r}.")
        self.stream = as_stream(data)
        self.source, self.batch_size, self.sampling = data, batch_size, sampling
        self.chunk_steps = 1  # set by the runner: batches per streamed chunk
        arrays = not callable(data) and self.stream is None
        self.n_examples = leading("Runner", "data", data) if arrays else None
        if self.epochs and batch_size > self.n_examples:
            raise ValueError(f"Runner: batch_size={batch_size} exceeds the {self.n_examples} examples of data; an "
                             "epoch needs at least one full batch. Pass a smaller batch_size, or "
                             "sampling='replacement'.")

    @property
    def epochs(self) -> bool:
        return self.sampling == "epochs" and self.n_examples is not None

    def shared(self, shared_batches: bool) -> bool:
        """Whether every row of a block trains on the same batch (a stream's always do)."""
        return shared_batches or self.stream is not None

    def size(self, static: dict) -> int:
        if self.stream is not None:
            return jax.tree.leaves(self.spec())[0].shape[1]
        return static.get("batch_size", self.batch_size)

    def steps_per_epoch(self, static: dict) -> int:
        """Optimizer steps per pass over the data (``n // batch_size``, a stream's ``len``)."""
        if self.stream is not None:
            return len(self.stream)
        if callable(self.source):
            raise ValueError("Runner: steps_per_epoch needs data given as arrays, not a batch function.")
        size = self.size(static)
        if isinstance(size, (int, np.integer)):
            return max(1, self.n_examples // size)
        return jnp.maximum(1, self.n_examples // size)  # a traced batch size (a shared program)

    def spec(self):
        """The program's data argument, or its shapes for a stream (``None`` for a batch function)."""
        if self.stream is not None:
            return self.stream.spec(self.chunk_steps)
        return None if callable(self.source) else self.source

    def open(self, mesh, step: int, end: int):
        """The program's data argument for each chunk of a run from ``step`` to ``end``
        (``current()``, ``advance()`` after each chunk, ``close()``)."""
        if self.stream is not None:
            return Feeder(self.stream, self.chunk_steps, mesh, step, end)
        return _Fixed(None if callable(self.source) else _mesh.replicate(self.source, mesh))

    def plan(self, stream, first_step, n_steps: int, static: dict, size=None):
        """What ``batch`` needs for steps ``first_step .. first_step + n_steps - 1``: the
        permutations of the epochs they span (``None`` without epochs). ``size``: the
        row's own batch size, traced, where it is smaller than ``static``'s (a program
        shared by several batch sizes)."""
        if not self.epochs:
            return None
        spe = self.steps_per_epoch(static)  # the fewest steps per epoch: the most epochs per chunk
        epochs = -(-n_steps // spe) + 1  # a chunk may start mid-epoch
        first = first_step // (spe if size is None else jnp.maximum(1, self.n_examples // size))
        return jax.vmap(lambda e: jax.random.permutation(jax.random.fold_in(stream, first + e),
                                                         self.n_examples))(jnp.arange(epochs))

    def batch(self, stream, step, static: dict, data, plan=None, first_step=None, size=None):
        """The batch of step ``step``. With ``size`` (a row's own batch size, traced, in a
        program shared by batch sizes) it has ``static``'s rows, and its first ``size``
        are exactly the batch a program of batch size ``size`` would draw."""
        if self.stream is not None:  # ``data`` is this chunk's batches, the first at ``first_step``
            return jax.tree.map(lambda a: a[step - first_step], data)
        if callable(self.source):
            return self.source(jax.random.fold_in(stream, step), step)
        rows = self.size(static)
        if size is not None:  # the row's own epochs, its batch in the leading rows
            spe = jnp.maximum(1, self.n_examples // size)
            order = plan[step // spe - first_step // spe]
            order = jnp.concatenate([order, order[:rows]])  # so the slice is never clamped
            idx = jax.lax.dynamic_slice_in_dim(order, (step % spe) * size, rows)
            return jax.tree.map(lambda a: jnp.asarray(a)[idx], data)
        size = rows
        if self.epochs:
            spe = self.steps_per_epoch(static)
            order = plan[step // spe - first_step // spe]
            idx = jax.lax.dynamic_slice_in_dim(order, (step % spe) * size, size)
        else:
            idx = jax.random.randint(jax.random.fold_in(stream, step), (size,), 0, self.n_examples)
        return jax.tree.map(lambda a: jnp.asarray(a)[idx], data)
