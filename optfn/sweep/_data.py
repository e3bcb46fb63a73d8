"""Feeding data to a sweep: one ``Source`` class per kind of ``data``.

* ``ArraySource``: a pytree of arrays with one row per example, passed to every program
  as an argument (never baked in as a constant; replicated on a mesh, each process
  feeding its local copy); batches are drawn inside the program from a *stream key*
  (the trial's own, or with ``shared_batches`` one shared by every trial: common random
  numbers).

  - ``sampling="epochs"`` (default): shuffled epochs without replacement. Epoch ``e`` is
    the permutation drawn from ``fold_in(stream, e)``; step ``t`` takes rows
    ``[i * B, (i + 1) * B)`` of it, ``i = t % steps_per_epoch``, ``steps_per_epoch = n // B``
    (the last partial batch of an epoch is dropped). Each chunk draws the permutations
    of the epochs it spans once, not one per step.
  - ``sampling="replacement"``: each step draws ``B`` rows with replacement from
    ``fold_in(stream, t)``.
* ``FunctionSource``: a function ``(key, step) -> batch``, called inside the program.
* ``StreamSource``: host batches (``_stream.py``): each chunk's batches are stacked,
  placed, and shared by every trial.

Every source answers the same questions (``Source``): its batch size, steps per epoch,
the programs' data argument (``spec``, ``open``), the per-chunk ``plan`` and the traced
``batch`` of a step, and its share of a trial's memory.
"""

from typing import Any, Optional

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


class Source:
    """Where a runner's batches come from; ``plan`` and ``batch`` run traced."""

    stream = None  # the host stream, for a StreamSource
    n_examples: Optional[int] = None
    epochs = False  # shuffled epochs drawn inside the program (ArraySource)

    def __init__(self, data: Any, batch_size: int):
        self.source, self.batch_size = data, batch_size
        self.chunk_steps = 1  # set by the runner: steps per chunk

    def shared(self, shared_batches: bool) -> bool:
        """Whether every row of a block trains on the same batch."""
        return shared_batches

    def size(self, static: dict):
        return static.get("batch_size", self.batch_size)

    def steps_per_epoch(self, static: dict):
        raise ValueError("Runner: steps_per_epoch needs data given as arrays, not a batch function.")

    def spec(self):
        """The programs' data argument, or its shapes (``None`` for a batch function)."""
        return None

    def open(self, mesh, step: int, end: int):
        """The programs' data argument for each chunk of a run from ``step`` to ``end``
        (``current()``, ``advance()`` after each chunk, ``close()``)."""
        return _Fixed(None)

    def plan(self, stream, first_step, n_steps: int, static: dict, size=None):
        """What ``batch`` needs for a chunk's steps (the epochs' permutations), or ``None``."""
        return None

    def batch(self, stream, step, static: dict, data, plan=None, first_step=None, size=None):
        raise NotImplementedError

    def row_bytes(self, static: dict) -> int:
        """A rough share of one trial's memory: its batch and activations."""
        return 0


class FunctionSource(Source):
    """``data(key, step) -> batch``, called inside the program with the row's stream key."""

    def batch(self, stream, step, static, data, plan=None, first_step=None, size=None):
        return self.source(jax.random.fold_in(stream, step), step)


class StreamSource(Source):
    """Host batches, ``chunk_steps`` at a time: ``data`` is this chunk's batches."""

    def __init__(self, data: Any, stream, batch_size: int):
        super().__init__(data, batch_size)
        self.stream = stream

    def shared(self, shared_batches: bool) -> bool:
        return True  # every trial alive in a chunk trains on the same batches

    def size(self, static: dict):
        return jax.tree.leaves(self.spec())[0].shape[1]

    def steps_per_epoch(self, static: dict):
        return len(self.stream)

    def spec(self):
        return self.stream.spec(self.chunk_steps)

    def open(self, mesh, step: int, end: int):
        return Feeder(self.stream, self.chunk_steps, mesh, step, end)

    def batch(self, stream, step, static, data, plan=None, first_step=None, size=None):
        return jax.tree.map(lambda a: a[step - first_step], data)  # the first batch is at ``first_step``

    def row_bytes(self, static: dict) -> int:
        return 4 * sum(np.dtype(a.dtype).itemsize * int(np.prod(a.shape[1:])) for a in jax.tree.leaves(self.spec()))


class ArraySource(Source):
    """Arrays with one row per example, batches drawn inside the program."""

    def __init__(self, data: Any, batch_size: int, sampling: str):
        super().__init__(data, batch_size)
        self.sampling = sampling
        self.n_examples = leading("Runner", "data", data)
        self.epochs = sampling == "epochs"
        if self.epochs and batch_size > self.n_examples:
            raise ValueError(f"Runner: batch_size={batch_size} exceeds the {self.n_examples} examples of data; an "
                             "epoch needs at least one full batch. Pass a smaller batch_size, or "
                             "sampling='replacement'.")

    def steps_per_epoch(self, static: dict):
        """``n // batch_size``; traced where the batch size is (a program shared by several)."""
        size = self.size(static)
        if isinstance(size, (int, np.integer)):
            return max(1, self.n_examples // size)
        return jnp.maximum(1, self.n_examples // size)

    def spec(self):
        return self.source

    def open(self, mesh, step: int, end: int):
        return _Fixed(_mesh.replicate(self.source, mesh))

    def plan(self, stream, first_step, n_steps: int, static: dict, size=None):
        """The permutations of the epochs steps ``first_step .. + n_steps - 1`` span.
        ``size``: the row's own batch size, traced, where it is smaller than ``static``'s
        (a program shared by several batch sizes)."""
        if not self.epochs:
            return None
        spe = self.steps_per_epoch(static)  # the fewest steps per epoch: the most epochs per chunk
        epochs = -(-n_steps // spe) + 1  # a chunk may start mid-epoch
        first = first_step // (spe if size is None else jnp.maximum(1, self.n_examples // size))
        return jax.vmap(lambda e: jax.random.permutation(jax.random.fold_in(stream, first + e),
                                                         self.n_examples))(jnp.arange(epochs))

    def batch(self, stream, step, static, data, plan=None, first_step=None, size=None):
        """The batch of step ``step``. With ``size`` (a row's own batch size, traced, in a
        program shared by batch sizes) it has ``static``'s rows, and its first ``size``
        are exactly the batch a program of batch size ``size`` would draw."""
        rows = self.size(static)
        if size is not None:  # the row's own epochs, its batch in the leading rows
            spe = jnp.maximum(1, self.n_examples // size)
            order = plan[step // spe - first_step // spe]
            order = jnp.concatenate([order, order[:rows]])  # so the slice is never clamped
            idx = jax.lax.dynamic_slice_in_dim(order, (step % spe) * size, rows)
        elif self.epochs:
            spe = self.steps_per_epoch(static)
            order = plan[step // spe - first_step // spe]
            idx = jax.lax.dynamic_slice_in_dim(order, (step % spe) * rows, rows)
        else:
            idx = jax.random.randint(jax.random.fold_in(stream, step), (rows,), 0, self.n_examples)
        return jax.tree.map(lambda a: jnp.asarray(a)[idx], data)

    def row_bytes(self, static: dict) -> int:
        row = sum(np.dtype(a.dtype).itemsize * int(np.prod(np.shape(a)[1:])) for a in jax.tree.leaves(self.source))
        return 4 * row * self.size(static) + 4 * self.n_examples * 3  # a batch, its activations, the permutations


def make_source(data: Any, batch_size: int, sampling: str = "epochs") -> Source:
    """The ``Source`` for a runner's ``data``."""
    if sampling not in SAMPLINGS:
        raise ValueError(f"Runner: sampling must be one of {SAMPLINGS}, got sampling={sampling!r}.")
    stream = as_stream(data)
    if stream is not None:
        return StreamSource(data, stream, batch_size)
    if callable(data):
        return FunctionSource(data, batch_size)
    return ArraySource(data, batch_size, sampling)
