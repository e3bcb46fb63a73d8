"""Saving trained params (any pytree of arrays) to one file, and loading them back."""

import io
import os
import pickle

import jax
import numpy as np


def save_params(path: str, params) -> None:
    """Write a pytree of arrays to ``path`` (``.npz``) atomically: a temporary file, then a rename.

    The leaves are stored as arrays and the tree structure beside them, so
    ``load_params`` returns the same nested dicts, lists and named tuples. A write that
    fails (a full disk) removes its temporary file and names the file it could not write.

    Example:
        >>> import os, tempfile, numpy as np
        >>> from optfn import sweep
        >>> path = os.path.join(tempfile.mkdtemp(), "best.npz")
        >>> sweep.save_params(path, {"w": np.ones(2), "b": [np.zeros(1)]})
        >>> sweep.load_params(path)["w"]
        array([1., 1.])
    """
    leaves, tree = jax.tree.flatten(params)
    tmp = f"{path}.tmp"
    try:
        with open(tmp, "wb") as f:
            np.savez(f, *[np.asarray(x) for x in leaves],
                     __tree__=np.frombuffer(pickle.dumps(tree), np.uint8))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise OSError(f"could not write {path} ({e.strerror or e}); nothing was left behind.") from None


def load_params(path: str):
    """The pytree ``save_params`` wrote to ``path``, with NumPy arrays as leaves.

    The file must be trusted: its tree structure is unpickled. A file that
    ``save_params`` did not write (another ``.npz``, a truncated copy) raises
    ``ValueError`` naming it.

    Example:
        >>> import os, tempfile, numpy as np
        >>> from optfn import sweep
        >>> path = os.path.join(tempfile.mkdtemp(), "best.npz")
        >>> sweep.save_params(path, (np.arange(3), {"s": np.float32(2)}))
        >>> sweep.load_params(path)
        (array([0, 1, 2]), {'s': array(2., dtype=float32)})
    """
    with open(path, "rb") as fh:
        raw = fh.read()
    try:
        data = np.load(io.BytesIO(raw), allow_pickle=False)
        tree = pickle.loads(data["__tree__"].tobytes())
        leaves = [data[f"arr_{i}"] for i in range(tree.num_leaves)]
    except Exception as e:  # zip, pickle and key errors alike: the file is not one of ours
        raise ValueError(f"load_params: {path} is not a file written by optfn.sweep.save_params "
                         f"({type(e).__name__}: {e}); pass the best_model.npz a sweep wrote.") from None
    return jax.tree.unflatten(tree, leaves)
