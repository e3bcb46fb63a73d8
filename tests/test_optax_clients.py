"""Eight kinds of optax use, from real training scripts, after ``import optfn as optax``.

flax's MNIST (linen ``TrainState``, SGD with momentum, integer-label cross-entropy) and
nnx data-parallel (``nnx.Optimizer``, AdamW) examples; equinox's RNN (Adam on
``eqx.filter``ed params) and MNIST (AdamW, ``eqx.apply_updates``) examples; optax's
getting-started (Adam, ``l2_loss``), gradient-accumulation (``MultiSteps``) and
reduce-on-plateau (``contrib.reduce_on_plateau``, ``value=``) notebooks; purejaxrl's PPO
(clipping chained with Adam on a schedule of the count).

Each runs through ``Switched``, which takes every name from optfn and records the names
optfn lacks (taken from optax instead, as the README says to). The recorded names must
be ones the README lists, and the runs must train as they do on optax.
"""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optfn

optax = pytest.importorskip("optax")

README = os.path.join(os.path.dirname(__file__), "..", "docs", "guide", "optax.md")


class Switched:
    """``import optfn as optax``, with what optfn lacks taken from optax and recorded."""

    def __init__(self, ours=optfn, theirs=optax, prefix=""):
        self._ours, self._theirs, self._prefix, self.missing = ours, theirs, prefix, set()

    def __getattr__(self, name):
        if name == "contrib":
            sub = Switched(optfn.contrib, optax.contrib, "contrib.")
            sub.missing = self.missing
            return sub
        if hasattr(self._ours, name):
            return getattr(self._ours, name)
        self.missing.add(self._prefix + name)
        return getattr(self._theirs, name)


X = jax.random.normal(jax.random.PRNGKey(0), (64, 8))
LABELS = (X[:, 0] > 0).astype(jnp.int32) + (X[:, 1] > 0).astype(jnp.int32)
TARGET = X @ jnp.linspace(-1, 1, 8)


def _flax_mnist(ox):
    import flax.linen as nn
    from flax.training import train_state

    model = nn.Dense(3)
    state = train_state.TrainState.create(apply_fn=model.apply, params=model.init(jax.random.PRNGKey(0), X),
                                          tx=ox.sgd(0.1, 0.9))

    @jax.jit
    def step(state):
        loss = lambda p: ox.softmax_cross_entropy_with_integer_labels(state.apply_fn(p, X), LABELS).mean()  # noqa
        value, grads = jax.value_and_grad(loss)(state.params)
        return state.apply_gradients(grads=grads), value

    out = []
    for _ in range(20):
        state, value = step(state)
        out.append(float(value))
    return out


def _flax_nnx(ox):
    from flax import nnx

    model = nnx.Linear(8, 1, rngs=nnx.Rngs(0))
    opt = nnx.Optimizer(model, ox.adamw(0.05, weight_decay=1e-4), wrt=nnx.Param)
    @nnx.jit
    def step(model, opt):
        value, grads = nnx.value_and_grad(lambda m: jnp.mean((m(X)[:, 0] - TARGET) ** 2))(model)
        opt.update(model, grads)
        return value

    return [float(step(model, opt)) for _ in range(20)]


def _equinox(ox, name):
    import equinox as eqx

    model = eqx.nn.MLP(8, 1, 8, 1, key=jax.random.PRNGKey(0))
    opt = ox.adam(0.01) if name == "rnn" else ox.adamw(0.01, weight_decay=1e-4)
    state = opt.init(eqx.filter(model, eqx.is_array))

    @eqx.filter_jit
    def step(model, state):
        value, grads = eqx.filter_value_and_grad(lambda m: jnp.mean((jax.vmap(m)(X)[:, 0] - TARGET) ** 2))(model)
        updates, state = opt.update(grads, state, eqx.filter(model, eqx.is_array))
        return eqx.apply_updates(model, updates), state, value

    out = []
    for _ in range(20):
        model, state, value = step(model, state)
        out.append(float(value))
    return out


def _getting_started(ox):
    params = {"w": jnp.zeros(8)}
    opt = ox.adam(0.05)
    state = opt.init(params)
    out = []
    for _ in range(20):
        value, grads = jax.value_and_grad(lambda p: ox.l2_loss(X @ p["w"], TARGET).mean())(params)
        updates, state = opt.update(grads, state)
        params = ox.apply_updates(params, updates)
        out.append(float(value))
    return out


def _accumulation(ox):
    params = {"w": jnp.zeros(8)}
    opt = ox.MultiSteps(ox.adam(0.05), every_k_schedule=4)
    state = opt.init(params)
    update = jax.jit(opt.update)  # once: each opt.update is a new bound method, a new cache key
    out = []
    for i in range(40):
        batch = slice(16 * (i % 4), 16 * (i % 4) + 16)
        value, grads = jax.value_and_grad(lambda p: jnp.mean((X[batch] @ p["w"] - TARGET[batch]) ** 2))(params)
        updates, state = update(grads, state, params)
        params = ox.apply_updates(params, updates)
        if opt.has_updated(state):
            out.append(float(value))
    return out


def _plateau(ox):
    params = {"w": jnp.zeros(8)}
    opt = ox.chain(ox.adam(0.05), ox.contrib.reduce_on_plateau(patience=2, cooldown=1, factor=0.5))
    state = opt.init(params)
    out = []
    for _ in range(20):
        value, grads = jax.value_and_grad(lambda p: jnp.mean((X @ p["w"] - TARGET) ** 2))(params)
        updates, state = jax.jit(opt.update)(grads, state, params, value=value)
        params = ox.apply_updates(params, updates)
        out.append(float(value))
    return out


def _ppo(ox):
    schedule = lambda count: 0.05 * (1.0 - count // 4 / 10)  # noqa: E731  purejaxrl's linear_schedule
    opt = ox.chain(ox.clip_by_global_norm(0.5), ox.adam(learning_rate=schedule, eps=1e-5))
    params = {"w": jnp.zeros(8)}
    state = opt.init(params)
    out = []
    for _ in range(20):
        value, grads = jax.value_and_grad(lambda p: jnp.mean((X @ p["w"] - TARGET) ** 2))(params)
        updates, state = jax.jit(opt.update)(grads, state, params)
        params = ox.apply_updates(params, updates)
        out.append(float(value))
    return out


CLIENTS = {"flax_mnist": _flax_mnist, "flax_nnx": _flax_nnx, "equinox_rnn": lambda ox: _equinox(ox, "rnn"),
           "equinox_mnist": lambda ox: _equinox(ox, "mnist"), "getting_started": _getting_started,
           "gradient_accumulation": _accumulation, "reduce_on_plateau": _plateau, "purejaxrl_ppo": _ppo}


def _listed_in_the_guide() -> str:
    with open(README) as f:
        return f.read()


@pytest.mark.parametrize("name", CLIENTS)
def test_a_client_runs_after_the_switch_needing_only_listed_names(name):
    with jax.numpy_dtype_promotion("standard"):  # optax's losses and flax mix dtypes implicitly
        switched = Switched()
        ours, theirs = CLIENTS[name](switched), CLIENTS[name](optax)
    guide = _listed_in_the_guide()
    unlisted = [n for n in sorted(switched.missing) if f"`{n}`" not in guide]
    assert not unlisted, f"{name} needs {unlisted} from optax, which docs/guide/optax.md does not list"
    assert ours[-1] < 0.7 * ours[0]  # it trains
    # and as on optax: Adam-family steps differ in float32 rounding (docs/guide/optax.md)
    np.testing.assert_allclose(ours, theirs, rtol=2e-3, atol=1e-5)
