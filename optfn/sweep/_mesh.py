"""Trials across devices and hosts: a mesh with a ``"trials"`` axis, on ``jax.sharding``.

Every per-trial array (params, optimizer and model state, hyperparameters, keys,
metrics) is laid out with ``NamedSharding(mesh, P("trials"))``; the data are replicated.
Each device runs ``shard_map(vmap(trial))`` over its own trials: trials never talk to
each other, so no collective is compiled and a trial's numbers do not depend on the
device count. With several processes (``jax.distributed.initialize``), every process
builds the same global arrays from the same seed and reads results back with
``process_allgather``.
"""

from typing import Optional, Union

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import AxisType, Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

TRIALS = "trials"


def trials_mesh(devices=None) -> Mesh:
    """A 1-D mesh named ``"trials"`` over ``devices`` (default: every device of every process).

    The axis type is declared ``Explicit``: the runner only moves whole trials between
    devices under ``shard_map``, so user code never meets sharding-in-types.

    Example:
        >>> from optfn import sweep
        >>> sweep.trials_mesh().axis_names
        ('trials',)
    """
    devices = jax.devices() if devices is None else list(devices)
    return jax.make_mesh((len(devices),), (TRIALS,), axis_types=(AxisType.Explicit,), devices=devices)


def resolve(mesh: Union[None, str, Mesh]) -> Optional[Mesh]:
    if mesh is None:
        return None
    if isinstance(mesh, str):
        if mesh != "auto":
            raise ValueError(f"Runner.run: mesh must be None, 'auto' or a jax.sharding.Mesh, got mesh={mesh!r}.")
        return trials_mesh()
    if not isinstance(mesh, Mesh) or TRIALS not in mesh.axis_names:
        raise ValueError(
            f"Runner.run: the mesh needs an axis named {TRIALS!r} to shard trials over, got "
            f"{getattr(mesh, 'axis_names', mesh)!r}; build one with optfn.sweep.trials_mesh()."
        )
    return mesh


def shards(mesh: Optional[Mesh]) -> int:
    return 1 if mesh is None else mesh.shape[TRIALS]


def place(tree, mesh: Optional[Mesh]):
    """Host arrays (one row per trial) onto the mesh, split along the trials axis."""
    if mesh is None:
        return jax.tree.map(jnp.asarray, tree)
    return jax.tree.map(lambda a: _global(a, NamedSharding(mesh, P(TRIALS))), tree)


def replicate(tree, mesh: Optional[Mesh]):
    """Arrays every trial reads (the data): a full copy on every device of the mesh.

    With several processes each process feeds its own local copy
    (``jax.make_array_from_process_local_data``).
    """
    if mesh is None or tree is None:
        return tree
    sharding = NamedSharding(mesh, P())
    if jax.process_count() == 1:
        return jax.device_put(tree, sharding)
    return jax.tree.map(lambda a: jax.make_array_from_process_local_data(sharding, np.asarray(a)), tree)


def _global(value, sharding):
    if jax.process_count() == 1:
        return jax.device_put(value, sharding)
    # every process holds the same full values (same seed) and gives each of its
    # devices the rows it owns
    value = np.asarray(value)
    return jax.make_array_from_callback(value.shape, sharding, lambda i: value[i])


def to_host(x) -> np.ndarray:
    """A (possibly sharded, possibly multi-process) array as a NumPy array on every process."""
    if getattr(x, "is_fully_addressable", True):
        return np.asarray(x)
    return np.asarray(multihost_utils.process_allgather(x, tiled=True))
