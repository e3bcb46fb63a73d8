"""Feeding data to a sweep: batches drawn inside the compiled program.

``data`` is either a pytree of arrays with one row per example, passed to every program
as an argument (never baked in as a constant; replicated on a mesh, each process
feeding its local copy), or a function ``(key, step) -> batch``. Each step draws
``batch_size`` rows with replacement from a key: the trial's own key, or with
``shared_batches`` one key per step shared by every trial (common random numbers).
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


class Feed:
    """Where a runner's batches come from. ``batch(key, step, static, data)`` runs traced."""

    def __init__(self, data: Any, batch_size: int):
        self.source, self.batch_size = data, batch_size
        self.n_examples = None if callable(data) else leading("Runner", "data", data)

    def argument(self, mesh):
        """The data as a program argument (``None`` for a batch function)."""
        return None if callable(self.source) else _mesh.replicate(self.source, mesh)

    def batch(self, key, step, static: dict, data):
        if callable(self.source):
            return self.source(key, step)
        size = static.get("batch_size", self.batch_size)
        idx = jax.random.randint(key, (size,), 0, self.n_examples)
        return jax.tree.map(lambda a: jnp.asarray(a)[idx], data)
