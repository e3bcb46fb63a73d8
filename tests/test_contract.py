"""Contract tests every optimizer in the registry must pass."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optfn
import problems
from registry import REGISTRY

PARAMS = {"w": jnp.ones((3, 2)), "b": jnp.zeros(2), "nested": [jnp.full((4,), 0.5)]}


def _grads(params, seed=0):
    keys = jax.random.split(jax.random.key(seed), len(jax.tree.leaves(params)))
    leaves, treedef = jax.tree.flatten(params)
    return treedef.unflatten([jax.random.normal(k, x.shape, x.dtype) for k, x in zip(keys, leaves)])


def _signature(tree):
    return jax.tree.structure(tree), [(jnp.shape(x), jnp.result_type(x)) for x in jax.tree.leaves(tree)]


@pytest.mark.parametrize("entry", REGISTRY, ids=str)
def test_init_on_shape_dtype_struct(entry):
    opt = entry.make(entry.hp)
    structs = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), PARAMS)
    expected = _signature(opt.init(PARAMS))
    assert _signature(jax.eval_shape(opt.init, structs)) == expected
    assert _signature(opt.init(structs)) == expected


@pytest.mark.parametrize("entry", REGISTRY, ids=str)
def test_state_structure_shape_dtype_stable(entry):
    opt = entry.make(entry.hp)
    state = opt.init(PARAMS)
    before = _signature(state)
    for seed in range(3):
        updates, state = opt.update(_grads(PARAMS, seed), state, PARAMS)
        assert _signature(state) == before
        assert _signature(updates) == _signature(PARAMS)


@pytest.mark.parametrize("entry", REGISTRY, ids=str)
def test_eager_equals_jit(entry):
    opt = entry.make(entry.hp)

    def run(update):
        state, params = opt.init(PARAMS), PARAMS
        for seed in range(3):
            updates, state = update(_grads(PARAMS, seed), state, params)
            params = optfn.apply_updates(params, updates)
        return params

    eager, jitted = run(opt.update), run(jax.jit(opt.update))
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7), eager, jitted)


# float32 params are test_state_structure_shape_dtype_stable's: the default run keeps bf16
@pytest.mark.parametrize("dtype", [pytest.param(jnp.float32, marks=pytest.mark.slow), jnp.bfloat16])
@pytest.mark.parametrize("entry", REGISTRY, ids=str)
def test_param_dtype_is_kept(entry, dtype):
    params = jax.tree.map(lambda x: x.astype(dtype), PARAMS)
    opt = entry.make(entry.hp)
    state = opt.init(params)
    init_sig = _signature(state)
    step = jax.jit(lambda g, s, p: opt.update(g, s, p))
    for seed in range(5):
        updates, state = step(_grads(params, seed), state, params)
        assert all(u.dtype == dtype for u in jax.tree.leaves(updates))
        params = optfn.apply_updates(params, updates)
    assert all(p.dtype == dtype for p in jax.tree.leaves(params))
    assert _signature(state) == init_sig
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(params))


def _minimise(opt, loss, params, steps):
    def body(carry, _):
        p, s = carry
        updates, s = opt.update(jax.grad(loss)(p), s, p)
        return (optfn.apply_updates(p, updates), s), None

    (params, _), _ = jax.jit(lambda p: jax.lax.scan(body, (p, opt.init(p)), length=steps))(params)
    return params


@pytest.mark.parametrize("entry", REGISTRY, ids=str)
def test_converges_on_parabola(entry):
    hp = {**entry.hp, **{k: v for k, v in entry.solve.items() if k in entry.hp}}
    final = _minimise(entry.make(hp), problems.parabola, problems.PARABOLA_INIT, entry.solve["parabola_steps"])
    np.testing.assert_allclose(final["x"], problems.PARABOLA_MIN["x"], atol=2e-2)


@pytest.mark.parametrize("entry", REGISTRY, ids=str)
def test_converges_on_rosenbrock(entry):
    hp = {**entry.hp, **{k: v for k, v in entry.solve.items() if k in entry.hp}, **entry.solve["rosenbrock"]}
    final = _minimise(entry.make(hp), problems.rosenbrock, problems.ROSENBROCK_INIT, entry.solve["rosenbrock_steps"])
    assert float(problems.rosenbrock(final)) < 1e-3, final
    np.testing.assert_allclose(final["xy"], problems.ROSENBROCK_MIN["xy"], atol=5e-2)


@pytest.mark.parametrize("entry", REGISTRY, ids=str)
def test_new_hyperparameter_values_do_not_recompile(entry):
    def step(hp, params, grads):  # two steps: ADOPT's first step is zero whatever the values
        opt = entry.make(hp)
        updates, state = opt.update(grads, opt.init(params), params)
        return opt.update(grads, state, optfn.apply_updates(params, updates))[0]

    step = jax.jit(step)
    grads = _grads(PARAMS)
    # each hyperparameter by its own power of f: scaling all alike can leave a step unchanged
    # (AdaBelief's first step is lr / b1)
    hps = [{k: jnp.float32(v * f ** (1 + i / 4)) for i, (k, v) in enumerate(sorted(entry.hp.items()))}
           for f in (1.0, 0.5, 0.9)]
    outs = [step(hp, PARAMS, grads) for hp in hps]
    assert step._cache_size() == 1
    assert not np.allclose(outs[0]["w"], outs[1]["w"])
