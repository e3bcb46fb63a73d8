"""Feeding data to a sweep: batches drawn inside the compiled program.

``data`` is either a pytree of arrays with one row per example, passed to every program
as an argument (never baked in as a constant; replicated on a mesh, each process
feeding its local copy), or a function ``(key, step) -> batch``. Batches come from a
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


class Feed:
    """Where a runner's batches come from; ``plan`` and ``batch`` run traced."""

    def __init__(self, data: Any, batch_size: int, sampling: str = "epochs"):
        if sampling not in SAMPLINGS:
            raise ValueError(f"Runner: sampling must be one of {SAMPLINGS}, got sampling={sampling!r}.")
        self.source, self.batch_size, self.sampling = data, batch_size, sampling
        self.n_examples = None if callable(data) else leading("Runner", "data", data)
        if self.epochs and batch_size > self.n_examples:
            raise ValueError(f"Runner: batch_size={batch_size} exceeds the {self.n_examples} examples of data; an "
                             "epoch needs at least one full batch. Pass a smaller batch_size, or "
                             "sampling='replacement'.")

    @property
    def epochs(self) -> bool:
        return self.sampling == "epochs" and not callable(self.source)

    def size(self, static: dict) -> int:
        return static.get("batch_size", self.batch_size)

    def steps_per_epoch(self, static: dict) -> int:
        """Optimizer steps per pass over the data (``n // batch_size``)."""
        if callable(self.source):
            raise ValueError("Runner: steps_per_epoch needs data given as arrays, not a batch function.")
        return max(1, self.n_examples // self.size(static))

    def argument(self, mesh):
        """The data as a program argument (``None`` for a batch function)."""
        return None if callable(self.source) else _mesh.replicate(self.source, mesh)

    def plan(self, stream, first_step, n_steps: int, static: dict):
        """What ``batch`` needs for steps ``first_step .. first_step + n_steps - 1``: the
        permutations of the epochs they span (``None`` without epochs)."""
        if not self.epochs:
            return None
        spe = self.steps_per_epoch(static)
        epochs = -(-n_steps // spe) + 1  # a chunk may start mid-epoch
        first = first_step // spe
        return jax.vmap(lambda e: jax.random.permutation(jax.random.fold_in(stream, first + e),
                                                         self.n_examples))(jnp.arange(epochs))

    def batch(self, stream, step, static: dict, data, plan=None, first_step=None):
        if callable(self.source):
            return self.source(jax.random.fold_in(stream, step), step)
        size = self.size(static)
        if self.epochs:
            spe = self.steps_per_epoch(static)
            order = plan[step // spe - first_step // spe]
            idx = jax.lax.dynamic_slice_in_dim(order, (step % spe) * size, size)
        else:
            idx = jax.random.randint(jax.random.fold_in(stream, step), (size,), 0, self.n_examples)
        return jax.tree.map(lambda a: jnp.asarray(a)[idx], data)
