"""The notes' optimizer comparison: SGD, momentum, Nesterov, AdaGrad, RMSProp, AdaDelta, Adam.

    python examples/optimizers_compared.py [--out optimizers_compared.png]

Each optimizer minimises the Rosenbrock function from (-1.2, 1) and trains a 64-64-10
MLP on scikit-learn's digits (same initial weights, same batches). The script prints
the losses and plots the curves side by side.
"""

import argparse

import jax
import jax.numpy as jnp

import optfn
from train_digits import digits_split, init_mlp, loss_fn

OPTIMIZERS = {  # learning rates picked per problem (Rosenbrock, digits)
    "SGD": (lambda lr: optfn.sgd(lr), 1e-3, 0.1),
    "momentum": (lambda lr: optfn.sgd(lr, momentum=0.9), 2e-4, 0.05),
    "Nesterov": (lambda lr: optfn.sgd(lr, momentum=0.9, nesterov=True), 2e-4, 0.05),
    "AdaGrad": (lambda lr: optfn.adagrad(lr), 0.3, 0.05),
    "RMSProp": (lambda lr: optfn.rmsprop(lr, decay=0.9), 1e-2, 1e-3),
    "AdaDelta": (lambda lr: optfn.adadelta(lr, rho=0.95, eps=1e-4), 1.0, 1.0),
    "Adam": (lambda lr: optfn.adam(lr), 2e-2, 3e-3),
}


def rosenbrock(p):
    return (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2


def run(opt, loss, params, batches):
    def body(carry, batch):
        p, s = carry
        value, g = jax.value_and_grad(loss)(p, *batch)
        u, s = opt.update(g, s, p)
        return (optfn.apply_updates(p, u), s), value

    return jax.jit(lambda: jax.lax.scan(body, (params, opt.init(params)), batches)[1])()


def main(out="optimizers_compared.png", rosen_steps=2000, digit_steps=300):
    x_tr, _, y_tr, _ = digits_split(0)
    idx = jax.random.randint(jax.random.key(1), (digit_steps, 64), 0, x_tr.shape[0])
    mlp = init_mlp(jax.random.key(0), [64, 64, 10])
    curves = {}
    print(f"{'optimizer':<10}{'Rosenbrock at ' + str(rosen_steps):>20}{'digits loss at ' + str(digit_steps):>22}")
    for name, (make, lr_rosen, lr_digits) in OPTIMIZERS.items():
        rosen = run(make(lr_rosen), lambda p: rosenbrock(p), jnp.array([-1.2, 1.0]), jnp.zeros((rosen_steps, 0)))
        digits = run(make(lr_digits), loss_fn, mlp, (x_tr[idx], y_tr[idx]))
        curves[name] = (rosen, digits)
        print(f"{name:<10}{float(rosen[-1]):>20.3e}{float(digits[-20:].mean()):>22.4f}")
    if out:
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            print("matplotlib is not installed: no plot")
            return curves
        fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
        for name, (rosen, digits) in curves.items():
            a.plot(rosen, label=name)
            b.plot(jnp.convolve(digits, jnp.ones(10) / 10, mode="valid"), label=name)
        a.set(yscale="log", xlabel="step", ylabel="loss", title="Rosenbrock")
        b.set(yscale="log", xlabel="step", ylabel="train loss (10-step mean)", title="digits MLP")
        a.legend()
        fig.tight_layout()
        fig.savefig(out, dpi=100)
        print(f"plot saved to {out}")
    return curves


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="optimizers_compared.png")
    main(parser.parse_args().out)
