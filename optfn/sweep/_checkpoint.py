"""Sweep checkpoints: a JSON record of the sweep and the arrays of every trial.

The record holds histories, statuses, the step, the strategy's state and the settings
the sweep was started with; the arrays are every block's params, optimizer and model
state, keys and hyperparameters, and the final params of trials that stopped. Two
stores keep them, chosen by the path:

* ``name.npz``: one file, dependency-free, for sweeps that fit on one host. Process 0
  gathers every array and writes a temporary file, then renames it (``os.replace`` is
  atomic), so a reader never sees half a file.
* any other path: a folder of orbax-checkpoint steps (``_orbax_store.py``): every
  process writes its own shards, the disk write overlaps training, and a step becomes
  visible only when complete.

A checkpoint that cannot be read, or that was written for other settings, raises and is
left exactly as it is.
"""

import json
import os
from typing import Optional

import jax
import numpy as np

from . import _mesh

_META = "__meta__"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: unreadable, or written for other settings."""


def unreadable(path: str, e: Exception) -> CheckpointError:
    return CheckpointError(
        f"the sweep checkpoint {path} cannot be read ({type(e).__name__}: {e}). It was left as "
        "it is; move or delete it to start afresh, or point to another checkpoint."
    )


class NpzStore:
    """A checkpoint in one ``.npz`` file, written by process 0."""

    def __init__(self, path: str):
        self.path = path
        self._arrays = None

    def meta(self) -> Optional[dict]:
        """The JSON record, or ``None`` when there is no checkpoint yet."""
        if not os.path.exists(self.path):
            return None
        try:
            with open(self.path, "rb") as fh, np.load(fh, allow_pickle=False) as f:
                meta = json.loads(bytes(f[_META]).decode())
                self._arrays = [f[f"a{i}"] for i in range(meta["n_arrays"])]
        except Exception as e:  # any damage: truncated zip, bad JSON, missing arrays
            raise unreadable(self.path, e) from None
        return meta

    def save(self, meta: dict, blocks: list, final: list) -> None:
        """Write ``meta`` with ``blocks`` (lists of device arrays) and ``final`` (lists of
        host arrays) atomically; every process gathers, process 0 writes."""
        arrays = [_mesh.to_host(a) for leaves in blocks for a in leaves]
        arrays += [np.asarray(a) for leaves in final for a in leaves]
        if jax.process_index() != 0:
            return
        meta = {**meta, "n_arrays": len(arrays)}
        tmp = f"{self.path}.tmp"
        with open(tmp, "wb") as f:
            payload = {f"a{i}": a for i, a in enumerate(arrays)}
            np.savez(f, **payload, **{_META: np.frombuffer(json.dumps(meta).encode(), np.uint8)})
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def arrays(self, blocks: list, final: list, mesh) -> tuple:
        """The saved arrays in the shapes of ``blocks`` and ``final`` (lists of lists of
        ``ShapeDtypeStruct``): block arrays placed on ``mesh``, final ones on the host."""
        flat, at, out_blocks, out_final = self._arrays, 0, [], []
        for specs in blocks:
            out_blocks.append(_mesh.place(list(flat[at:at + len(specs)]), mesh))
            at += len(specs)
        for specs in final:
            out_final.append(list(flat[at:at + len(specs)]))
            at += len(specs)
        return out_blocks, out_final

    def close(self) -> None:
        pass


def open_store(fn: str, path: str):
    """The store for ``path``: a ``.npz`` file, or an orbax folder for any other path."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{fn}: checkpoint must be a path (a .npz file, or a folder for orbax-checkpoint), "
                        f"got checkpoint={path!r}.")
    path = os.fspath(path)
    if path.endswith(".npz"):
        if os.path.isdir(path):
            raise ValueError(f"{fn}: checkpoint={path!r} is a folder; a .npz checkpoint is one file.")
        return NpzStore(path)
    from ._orbax_store import OrbaxStore

    return OrbaxStore(fn, path)


def _short(value, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_settings(path: str, saved: dict, wanted: dict) -> None:
    """Raise unless the checkpoint was written by a sweep with the same settings."""
    differ = {k: (saved.get(k), wanted.get(k)) for k in sorted(set(saved) | set(wanted)) if saved.get(k) != wanted.get(k)}
    if differ:
        lines = "; ".join(f"{k}: checkpoint {_short(a)}, now {_short(b)}" for k, (a, b) in differ.items())
        raise CheckpointError(
            f"the sweep checkpoint {path} was written with other settings ({lines}). It was left "
            "as it is; resume with the same settings, or use another checkpoint path."
        )
