"""Sweep checkpoints with orbax-checkpoint: sharded, asynchronous, complete or invisible.

A folder of numbered steps (``CheckpointManager``), each holding two items: ``meta``
(the JSON record) and ``arrays`` (every block's arrays, sharded over the mesh as they
live, and the final params of stopped trials). Every process writes its own shards; the
device-to-host copy happens before ``save`` returns (so the next chunk may reuse the
donated buffers) and the disk write runs in the background while training goes on.
Orbax writes a step under a temporary name and renames it when complete, so after a
``kill -9`` the newest visible step is whole; leftover temporary folders are removed.
The two newest steps are kept.
"""

import os
from typing import Optional

import jax
import numpy as np

from ._checkpoint import unreadable


def _orbax(fn: str):
    try:
        import orbax.checkpoint as ocp
    except ImportError:
        raise ImportError(f"{fn}: a checkpoint folder needs orbax-checkpoint: pip install 'optfn[checkpoint]'; "
                          "or name a .npz file for the single-file checkpoint.") from None
    return ocp


class OrbaxStore:
    """A checkpoint folder managed by ``orbax.checkpoint.CheckpointManager``."""

    def __init__(self, fn: str, path: str):
        ocp = _orbax(fn)
        if os.path.isfile(path):
            raise ValueError(f"{fn}: checkpoint={path!r} is a file; an orbax checkpoint is a folder (or name a "
                             ".npz file for the single-file checkpoint).")
        self.ocp, self.path = ocp, os.path.abspath(path)
        options = ocp.CheckpointManagerOptions(max_to_keep=2, enable_async_checkpointing=True,
                                               cleanup_tmp_directories=True, create=True)
        self.manager = ocp.CheckpointManager(self.path, options=options, item_names=("meta", "arrays"))
        self._step = None

    def meta(self) -> Optional[dict]:
        try:
            self._step = self.manager.latest_step()
            if self._step is None:
                return None
            return self.manager.restore(self._step, args=self.ocp.args.Composite(meta=self.ocp.args.JsonRestore()))[
                "meta"]
        except Exception as e:
            raise unreadable(self.path, e) from None

    def save(self, meta: dict, blocks: list, final: list) -> None:
        step = 0 if self._step is None else self._step + 1
        tree = {"blocks": blocks, "final": [[np.asarray(a) for a in leaves] for leaves in final]}
        args = self.ocp.args
        self.manager.save(step, args=args.Composite(meta=args.JsonSave(meta), arrays=args.StandardSave(tree)))
        self._step = step

    def arrays(self, blocks: list, final: list, mesh) -> tuple:
        if mesh is None:
            sharding = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
        else:
            from . import _mesh

            sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(_mesh.TRIALS))
        target = {"blocks": [[jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sharding) for s in specs]
                             for specs in blocks],
                  "final": [[np.zeros(s.shape, s.dtype) for s in specs] for specs in final]}
        args = self.ocp.args
        try:
            out = self.manager.restore(self._step, args=args.Composite(arrays=args.StandardRestore(target)))["arrays"]
        except Exception as e:
            raise unreadable(self.path, e) from None
        return out["blocks"], [[np.asarray(a) for a in leaves] for leaves in out["final"]]

    def close(self) -> None:
        """Wait for the writes under way (a checkpoint is complete when ``run`` returns)."""
        self.manager.wait_until_finished()
        self.manager.close()
