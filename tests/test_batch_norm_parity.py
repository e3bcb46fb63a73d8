"""Batch norm parity with flax.linen.BatchNorm and torch.nn.BatchNorm1d, and across 8 devices."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import Mesh, PartitionSpec as P

import optfn


def _batches(n=5, shape=(32, 6)):
    keys = jax.random.split(jax.random.PRNGKey(4), n)
    return [3.0 + jnp.linspace(0.5, 2.0, shape[-1]) * jax.random.normal(k, shape) for k in keys]


@pytest.mark.parametrize("variance", ["two_pass"])
def test_matches_flax_two_pass_batch_norm(variance):
    nn = pytest.importorskip("flax.linen")
    batches = _batches()
    layer = nn.BatchNorm(momentum=0.9, epsilon=1e-5, use_fast_variance=False)
    variables = layer.init(jax.random.PRNGKey(0), batches[0], use_running_average=False)
    params, state = optfn.batch_norm_init(6)
    for x in batches:
        with jax.numpy_dtype_promotion("standard"):  # flax mixes dtypes implicitly
            y_flax, updates = layer.apply(variables, x, use_running_average=False, mutable=["batch_stats"])
        variables = {**variables, **updates}
        y, state = optfn.batch_norm(params, state, x, training=True, momentum=0.9, variance=variance)
        np.testing.assert_allclose(y, y_flax, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(state.mean, variables["batch_stats"]["mean"], rtol=1e-5)
    np.testing.assert_allclose(state.var, variables["batch_stats"]["var"], rtol=1e-5)
    x = _batches(1, (7, 6))[0]
    with jax.numpy_dtype_promotion("standard"):
        y_flax = layer.apply(variables, x, use_running_average=True)
    y, _ = optfn.batch_norm(params, state, x, training=False)
    np.testing.assert_allclose(y, y_flax, rtol=1e-5, atol=1e-5)


def test_matches_torch_batchnorm1d_with_unbiased_running_var():
    torch = pytest.importorskip("torch")
    batches = _batches()
    layer = torch.nn.BatchNorm1d(6, eps=1e-5, momentum=0.1)  # torch's 0.1 is optfn's 0.9
    params, state = optfn.batch_norm_init(6)
    layer.train()
    for x in batches:
        y_torch = layer(torch.from_numpy(np.asarray(x))).detach().numpy()
        y, state = optfn.batch_norm(params, state, x, training=True, momentum=0.9, running_var="unbiased")
        np.testing.assert_allclose(y, y_torch, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(state.mean, layer.running_mean.numpy(), rtol=1e-5)
    np.testing.assert_allclose(state.var, layer.running_var.numpy(), rtol=1e-5)
    layer.eval()
    x = _batches(1, (7, 6))[0]
    y_torch = layer(torch.from_numpy(np.asarray(x))).detach().numpy()
    np.testing.assert_allclose(optfn.batch_norm(params, state, x, training=False)[0], y_torch, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("variance", ["two_pass", "fast"])
def test_eight_devices_with_shard_map_equal_the_global_batch(variance):
    devices = jax.devices()
    assert len(devices) == 8, "conftest.py fakes 8 CPU devices"
    mesh = Mesh(np.array(devices), ("data",))
    x = _batches(1, (64, 6))[0]
    params, state = optfn.batch_norm_init(6)

    @jax.jit
    @functools.partial(jax.shard_map, mesh=mesh, in_specs=(P(), P(), P("data")), out_specs=(P("data"), P()))
    def sharded(params, state, x):
        return optfn.batch_norm(params, state, x, training=True, axis_name="data", variance=variance,
                                running_var="unbiased")

    y, new_state = sharded(params, state, x)
    y_full, full_state = optfn.batch_norm(params, state, x, training=True, variance=variance, running_var="unbiased")
    np.testing.assert_allclose(y, y_full, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(new_state.mean, full_state.mean, rtol=1e-6)
    np.testing.assert_allclose(new_state.var, full_state.var, rtol=1e-5)


def test_gradients_across_eight_devices_equal_the_global_batch():
    mesh = Mesh(np.array(jax.devices()), ("data",))
    x = _batches(1, (64, 6))[0]
    w = jax.random.normal(jax.random.PRNGKey(7), x.shape)
    params, state = optfn.batch_norm_init(6)

    @functools.partial(jax.shard_map, mesh=mesh, in_specs=(P(), P("data"), P("data")), out_specs=P())
    def sharded_loss(params, x, w):
        y, _ = optfn.batch_norm(params, state, x, training=True, axis_name="data")
        return jax.lax.psum(jnp.sum(y * w), "data")

    def full_loss(params, x, w):
        return jnp.sum(optfn.batch_norm(params, state, x, training=True)[0] * w)

    g_sharded = jax.jit(jax.grad(sharded_loss, argnums=(0, 1)))(params, x, w)
    g_full = jax.grad(full_loss, argnums=(0, 1))(params, x, w)
    for a, b in zip(jax.tree.leaves(g_sharded), jax.tree.leaves(g_full)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_jit_with_a_batch_sharded_over_eight_devices_uses_the_global_statistics():
    mesh = jax.make_mesh((8,), ("data",), axis_types=(jax.sharding.AxisType.Auto,))
    x = _batches(1, (64, 6))[0]
    params, state = optfn.batch_norm_init(6)
    sharded_x = jax.device_put(x, jax.sharding.NamedSharding(mesh, P("data")))
    y, new_state = jax.jit(lambda p, s, x: optfn.batch_norm(p, s, x, training=True))(params, state, sharded_x)
    y_full, full_state = optfn.batch_norm(params, state, x, training=True)
    assert y.sharding.spec[0] == "data"
    np.testing.assert_allclose(y, y_full, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(new_state.var, full_state.var, rtol=1e-5)
