"""Sweep checkpoints: one ``.npz`` file, written to a temporary name and renamed.

The file holds every trial's arrays (params, optimizer and model state, keys,
hyperparameters) and a JSON record of the rest (histories, statuses, the step, the
settings the sweep was started with). A reader never sees half a file: ``os.replace``
is atomic. A file that cannot be read, or that was written for other settings, raises
and is left exactly as it is.
"""

import json
import os
from typing import Optional

import jax
import numpy as np

_META = "__meta__"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: unreadable, or written for other settings."""


def save(path: str, meta: dict, arrays: list) -> None:
    """Write ``meta`` (JSON-able) and ``arrays`` (NumPy) to ``path`` atomically (process 0 only)."""
    if jax.process_index() != 0:
        return
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as f:
        payload = {f"a{i}": a for i, a in enumerate(arrays)}
        np.savez(f, **payload, **{_META: np.frombuffer(json.dumps(meta).encode(), np.uint8)})
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load(path: str) -> Optional[tuple]:
    """``(meta, arrays)`` from ``path``, or ``None`` when there is no file."""
    if not os.path.exists(path):
        return None
    try:
        with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as f:
            meta = json.loads(bytes(f[_META]).decode())
            arrays = [f[f"a{i}"] for i in range(meta["n_arrays"])]
    except Exception as e:  # any damage: truncated zip, bad JSON, missing arrays
        raise CheckpointError(
            f"the sweep checkpoint {path} cannot be read ({type(e).__name__}: {e}). It was left as "
            "it is; move or delete it to start afresh, or point to another checkpoint."
        ) from None
    return meta, arrays


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
