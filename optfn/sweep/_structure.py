"""Structures that share a program: array sizes padded with zeros, exactly.

A structural hyperparameter that only changes array sizes (hidden units, channels, an
embedding width) need not cost a program per value. Trials of several such values (the
*members* of a ``Layout``) train in one program traced at each size dimension's largest
value (``Layout.static``):

* each trial starts from exactly the carry (params, model state, optimizer state) its
  own ``init`` gives at its own size, with its own key, zero-padded to the largest
  shapes (``pad``): the leading block of every leaf is the trial's own array;
* at every step its gradients, updates and new model state are masked to that block
  (``mask``), so padded entries stay exactly zero through every optimizer update.

Members may also differ in ``batch_size`` (``batch_sizes``): each row then draws its own
epochs' batches of its own size, in the leading rows of a batch of the largest size.
Where every batch size divides the largest (``repeat``: 32, 64, 128, 256) the row's
batch is repeated to fill the largest's rows, so the loss is called once on a full
batch and its mean over the rows is the mean over the row's own examples; otherwise the
loss is the mean of per-example losses (``vmap``) over the row's own rows. Both are exact
for a loss that is a mean over examples; the probe checks it.

With zeros in the padded entries, a padded hidden unit contributes nothing to the
forward pass and receives no gradient, so for models and optimizers that act
elementwise on a padded axis each trial computes what it computes alone (up to float32
rounding of sums taken in another order). Where that fails (a LayerNorm or a mean over
the padded axis, an optimizer that averages over an axis like Adafactor's factored
moments), ``_exact.py``'s probe finds it before anything trains.

Each row of a block carries an ``extent`` (``int32[1 + A]``): its member's index and its
own size along each of the ``A`` leaf axes that vary within the layout (``axes``).
"""

import dataclasses
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np


def structure_key(static: dict) -> tuple:
    """A hashable key for a trial's structural hyperparameters."""
    return tuple(sorted((k, repr(v)) for k, v in static.items()))


@dataclasses.dataclass(frozen=True)
class CarrySpec:
    """The unbatched carry of one structure: its tree and every leaf's shape and dtype."""

    treedef: object
    shapes: tuple  # of tuples
    dtypes: tuple  # of str
    n_params: int  # leaves of params (first in the flat carry), then model state, then optimizer state
    n_mstate: int
    reads: frozenset = frozenset()  # the hyperparameters ``init`` read

    @property
    def signature(self) -> tuple:
        """What two structures must share to pad one into the other."""
        return (self.treedef, tuple(len(s) for s in self.shapes), self.dtypes, self.n_params, self.n_mstate)

    @property
    def param_elements(self) -> int:
        return int(sum(np.prod(s, dtype=np.int64) for s in self.shapes[:self.n_params]))


def carry_spec(runner, static: dict, dtypes: dict) -> CarrySpec:
    """``init`` and the optimizer's ``init`` of one structure, traced (``eval_shape``)."""

    reads = set()

    def build(key, numeric):
        hp = _Reads({**static, **numeric}, reads)
        out = runner.init(key, hp)
        hp = {**static, **numeric}
        params, mstate = out if runner.has_state else (out, None)
        return params, mstate, runner.optimizer(hp).init(params)

    numeric = {k: jax.ShapeDtypeStruct((), dt) for k, dt in dtypes.items()}
    params, mstate, ostate = jax.eval_shape(build, jax.ShapeDtypeStruct(jax.random.PRNGKey(0).shape, jnp.uint32),
                                            numeric)
    leaves, treedef = jax.tree.flatten((params, mstate, ostate))
    return CarrySpec(treedef, tuple(tuple(a.shape) for a in leaves), tuple(str(a.dtype) for a in leaves),
                     len(jax.tree.leaves(params)), len(jax.tree.leaves(mstate)), frozenset(reads))


class _Reads(dict):
    """A dict that notes the keys read from it (which hyperparameters ``init`` uses)."""

    def __init__(self, values, reads: set):
        super().__init__(values)
        self.reads = reads

    def __getitem__(self, key):
        self.reads.add(key)
        return super().__getitem__(key)

    def get(self, key, default=None):
        self.reads.add(key)
        return super().get(key, default)

    def __contains__(self, key):
        self.reads.add(key)
        return super().__contains__(key)

    # a copy or a walk over the dict (``{**hp}``, ``dict(hp)``, ``hp.items()``) reads everything
    def _all(self):
        self.reads.update(super().keys())

    def __iter__(self):
        self._all()
        return super().__iter__()

    def keys(self):
        self._all()
        return super().keys()

    def items(self):
        self._all()
        return super().items()

    def values(self):
        self._all()
        return super().values()

    def copy(self):
        self._all()
        return dict(self)


def init_key(static: dict, spec: CarrySpec) -> tuple:
    """Members whose ``init`` reads the same values share one ``init`` branch."""
    return structure_key({k: v for k, v in static.items() if k in spec.reads})


class Layout:
    """The structure one set of programs trains: one static, or members padded to the largest.

    Args:
        members: the statics (structural hyperparameters) of the trials it holds.
        static: what the programs trace at: each size dimension at its members' largest.
        specs: each member's ``CarrySpec``.
        padded: the ``CarrySpec`` at ``static``; every member's shapes fit inside it.
    """

    def __init__(self, members, static: dict, specs, padded: CarrySpec):
        self.members, self.static, self.specs, self.padded = tuple(members), dict(static), tuple(specs), padded
        sizes = [m.get("batch_size") for m in self.members]
        # members of several batch sizes: each row's own, traced; the batch has the largest's rows
        self.batch_sizes = tuple(sizes) if len(set(sizes)) > 1 else None
        # every batch size divides the largest: a row's batch repeated fills the largest's
        # rows, and its mean over them is its own batch's (no per-example losses needed)
        self.repeat = self.batch_sizes is not None and all(max(sizes) % b == 0 for b in sizes)
        shapes = [s.shapes for s in self.specs]
        self.axes = tuple((i, a) for i, p in enumerate(padded.shapes) for a in range(len(p))
                          if any(s[i][a] != p[a] for s in shapes))
        self.extents = np.array([[m] + [shapes[m][i][a] for i, a in self.axes] for m in range(len(self.members))],
                                np.int32)
        self._member = {structure_key(m): j for j, m in enumerate(self.members)}
        # one init branch per distinct init (members that differ only in what init does
        # not read, a batch size, share it): ``branch[m]`` is member m's
        keys = [init_key(m, sp) for m, sp in zip(self.members, self.specs)]
        first = {}
        for j, k in enumerate(keys):
            first.setdefault(k, j)
        self.init_members = tuple(self.members[j] for j in first.values())
        self.branch = np.array([list(first).index(k) for k in keys], np.int32)

    @classmethod
    def single(cls, static: dict, spec: Optional[CarrySpec] = None) -> "Layout":
        return cls([static], static, [spec], spec) if spec is not None else _Unpadded(static)

    @property
    def padded_members(self) -> bool:
        return len(self.members) > 1

    @property
    def key(self) -> tuple:
        """Names the ``init`` program (one branch per member)."""
        return structure_key(self.static), tuple(structure_key(m) for m in self.members)

    @property
    def program_key(self) -> tuple:
        """Names the ``chunk`` and ``eval`` programs: they depend on the members only
        through the varying axes (the extents are an argument)."""
        return structure_key(self.static), self.axes, self.batch_sizes

    def index(self, static: dict) -> int:
        return self._member[structure_key(static)]

    def extent(self, static: dict) -> np.ndarray:
        return self.extents[self.index(static)]

    def describe(self) -> dict:
        """Plain data for checkpoints and plans."""
        return {"static": self.static, "members": list(self.members)}

    # -- traced: inside the programs --------------------------------------------------

    def batch_size(self, extent):
        """The row's own batch size (traced), or ``None`` where every member has the same."""
        return None if self.batch_sizes is None else jnp.asarray(self.batch_sizes, jnp.int32)[extent[0]]

    def pad(self, carry):
        """One member's carry, zero-padded to the layout's shapes (leading blocks)."""
        leaves, treedef = jax.tree.flatten(carry)
        out = [x if tuple(x.shape) == p else jnp.pad(x, [(0, q - s) for s, q in zip(x.shape, p)])
               for x, p in zip(leaves, self.padded.shapes)]
        return jax.tree.unflatten(treedef, out)

    def mask(self, tree, offset: int, extent):
        """``tree`` (params at ``offset`` 0, or the model state at ``n_params``) with every
        entry outside the row's own block set to zero; ``extent`` is the row's."""
        if not self.axes:
            return tree
        leaves, treedef = jax.tree.flatten(tree)
        out = []
        for i, x in enumerate(leaves):
            keep = None
            for a, (leaf, axis) in enumerate(self.axes):
                if leaf == offset + i:
                    inside = jax.lax.broadcasted_iota(jnp.int32, x.shape, axis) < extent[1 + a]
                    keep = inside if keep is None else keep & inside
            out.append(x if keep is None else jnp.where(keep, x, jnp.zeros_like(x)))
        return jax.tree.unflatten(treedef, out)

    # -- on the host ----------------------------------------------------------------------

    def unpad(self, tree, member: int, offset: int = 0):
        """A host pytree (params or model state of one row) cut to ``member``'s own shapes."""
        spec = self.specs[member]
        leaves, treedef = jax.tree.flatten(tree)
        out = [np.asarray(x)[tuple(slice(0, s) for s in spec.shapes[offset + i])] for i, x in enumerate(leaves)]
        return jax.tree.unflatten(treedef, out)


class _Unpadded(Layout):
    """One structure in its own programs (no shapes needed: nothing is padded)."""

    def __init__(self, static: dict):
        self.members, self.static, self.specs, self.padded = (dict(static),), dict(static), (None,), None
        self.axes, self.extents, self.batch_sizes, self.repeat = (), np.zeros((1, 1), np.int32), None, False
        self.init_members, self.branch = self.members, np.zeros(1, np.int32)
        self._member = {structure_key(static): 0}

    def pad(self, carry):
        return carry

    def unpad(self, tree, member: int, offset: int = 0):
        return tree
