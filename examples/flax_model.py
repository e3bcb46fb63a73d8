"""optfn with a flax nnx model: optfn.adam trains it, optfn.batch_norm normalises inside it.

    python examples/flax_model.py [--steps 300]

The model is an ``nnx.Module``; its batch norm keeps ``scale``/``bias`` as ``nnx.Param``
and the running statistics as ``nnx.BatchStat``, and calls ``optfn.batch_norm``. The
optimizer state is a plain pytree over ``nnx.state(model, nnx.Param)``, so the
optimizer never touches the statistics; ``nnx.jit`` carries the module's updates out.
"""

import argparse

import jax
import jax.numpy as jnp
from flax import nnx

import optfn
from train_digits import digits_split


class BatchNorm(nnx.Module):
    """``optfn.batch_norm`` with its parameters and statistics held as nnx variables."""

    def __init__(self, features: int):
        params, state = optfn.batch_norm_init(features)
        self.scale, self.bias = nnx.Param(params.scale), nnx.Param(params.bias)
        self.mean, self.var, self.count = nnx.BatchStat(state.mean), nnx.BatchStat(state.var), nnx.BatchStat(state.count)

    def __call__(self, x, training: bool):
        params = optfn.BatchNormParams(self.scale[...], self.bias[...])
        state = optfn.BatchNormState(self.mean[...], self.var[...], self.count[...])
        y, state = optfn.batch_norm(params, state, x, training=training, momentum=0.9)
        self.mean[...], self.var[...], self.count[...] = state.mean, state.var, state.count
        return y


class MLP(nnx.Module):
    def __init__(self, rngs: nnx.Rngs):
        self.hidden = nnx.Linear(64, 128, use_bias=False, kernel_init=jax.nn.initializers.he_normal(), rngs=rngs)
        self.norm = BatchNorm(128)
        self.out = nnx.Linear(128, 10, kernel_init=jax.nn.initializers.glorot_normal(), rngs=rngs)

    def __call__(self, x, training: bool):
        return self.out(jax.nn.relu(self.norm(self.hidden(x), training)))


def cross_entropy(logits, y):
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=1))


def main(steps=300, lr=3e-3, batch=128, seed=0):
    x_tr, x_te, y_tr, y_te = digits_split(seed)
    model = MLP(nnx.Rngs(seed))
    opt = optfn.adam(lr)
    opt_state = opt.init(nnx.state(model, nnx.Param))  # the optimizer sees only the parameters

    @nnx.jit
    def step(model, opt_state, key):
        idx = jax.random.choice(key, x_tr.shape[0], (batch,), replace=False)
        loss, grads = nnx.value_and_grad(lambda m: cross_entropy(m(x_tr[idx], training=True), y_tr[idx]))(model)
        params = nnx.state(model, nnx.Param)
        updates, opt_state = opt.update(grads, opt_state, params)
        nnx.update(model, optfn.apply_updates(params, updates))
        return opt_state, loss

    key = jax.random.key(seed + 1)
    for t in range(1, steps + 1):
        key, sub = jax.random.split(key)
        opt_state, loss = step(model, opt_state, sub)
        if t % 100 == 0 or t == 1:
            print(f"step {t:4d}  loss {float(loss):.4f}")
    test_acc = float(jnp.mean(jnp.argmax(model(x_te, training=False), axis=1) == y_te))
    print(f"batch-norm steps counted: {int(model.norm.count[...])}  test accuracy {test_acc:.3f}")
    return test_acc


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300)
    main(parser.parse_args().steps)
