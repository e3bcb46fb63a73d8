"""Every optimizer optfn ships, with test hyperparameters, its float64 reference and its
optax counterpart. Contract, reference, parity and vmap tests are parametrized over it.

``hp`` holds only numeric hyperparameters, so tests can vmap over them; ``solve`` holds
settings that make the optimizer converge on the test problems.
"""

import dataclasses
from typing import Any, Callable, Optional

import jax

import optfn
import reference


@dataclasses.dataclass(frozen=True)
class Entry:
    name: str
    make: Callable[[dict], Any]  # hp -> optfn transformation
    hp: dict
    ref: Callable[[dict], Callable]  # hp -> reference step(g, p) -> u
    optax: Optional[Callable[[Any, dict], Any]]  # (optax module, hp) -> optax transformation
    solve: dict  # hp overrides and step counts for the convergence tests
    # test_reference's rtol, where float32 cannot reach 1e-5 and says why (see the entry)
    rtol: float = 1e-5
    # and float32 ulps of the params allowed on top, for an optimizer that reads them
    p_ulps: float = 0.0

    def __repr__(self):
        return self.name


def _ema_momentum(hp):
    return optfn.chain(optfn.ema(hp["b"], debias=False), optfn.scale_by_learning_rate(hp["lr"]))


REGISTRY = [
    Entry("sgd", lambda h: optfn.sgd(h["lr"]), {"lr": 0.05},
          lambda h: reference.sgd(h["lr"]),
          lambda ox, h: ox.sgd(h["lr"]),
          {"lr": 0.04, "parabola_steps": 400, "rosenbrock": {"lr": 1.5e-3}, "rosenbrock_steps": 30000}),
    Entry("momentum", lambda h: optfn.sgd(h["lr"], momentum=h["momentum"]), {"lr": 0.05, "momentum": 0.9},
          lambda h: reference.sgd(h["lr"], h["momentum"]),
          lambda ox, h: ox.sgd(h["lr"], momentum=h["momentum"]),
          {"lr": 0.01, "parabola_steps": 400, "rosenbrock": {"lr": 5e-4}, "rosenbrock_steps": 8000}),
    Entry("nesterov", lambda h: optfn.sgd(h["lr"], momentum=h["momentum"], nesterov=True),
          {"lr": 0.05, "momentum": 0.9},
          lambda h: reference.sgd(h["lr"], h["momentum"], nesterov=True),
          lambda ox, h: ox.sgd(h["lr"], momentum=h["momentum"], nesterov=True),
          {"lr": 0.01, "parabola_steps": 400, "rosenbrock": {"lr": 5e-4}, "rosenbrock_steps": 8000}),
    Entry("ema_momentum", _ema_momentum, {"lr": 0.05, "b": 0.9},
          lambda h: reference.ema_momentum(h["lr"], h["b"], debias=False),
          lambda ox, h: ox.chain(ox.ema(h["b"], debias=False), ox.scale_by_learning_rate(h["lr"])),
          {"lr": 0.05, "parabola_steps": 600, "rosenbrock": {"lr": 5e-3}, "rosenbrock_steps": 8000}),
    Entry("adagrad", lambda h: optfn.adagrad(h["lr"], eps=h["eps"]), {"lr": 0.1, "eps": 1e-7},
          lambda h: reference.adagrad(h["lr"], 0.1, h["eps"]),
          lambda ox, h: ox.adagrad(h["lr"], eps=h["eps"]),
          {"lr": 0.5, "parabola_steps": 500, "rosenbrock": {"lr": 0.3}, "rosenbrock_steps": 20000}),
    Entry("rmsprop", lambda h: optfn.rmsprop(h["lr"], decay=h["decay"]), {"lr": 0.01, "decay": 0.9},
          lambda h: reference.rmsprop(h["lr"], h["decay"]),
          lambda ox, h: ox.rmsprop(h["lr"], decay=h["decay"]),
          {"lr": 0.01, "parabola_steps": 600, "rosenbrock": {"lr": 1e-3}, "rosenbrock_steps": 8000}),
    Entry("rmsprop_centered_nesterov",
          lambda h: optfn.rmsprop(h["lr"], decay=h["decay"], eps=h["eps"], eps_in_sqrt=False, centered=True,
                                  momentum=h["momentum"], nesterov=True),
          {"lr": 0.01, "decay": 0.9, "eps": 1e-8, "momentum": 0.5},
          lambda h: reference.rmsprop(h["lr"], h["decay"], h["eps"], eps_in_sqrt=False, centered=True,
                                      momentum=h["momentum"], nesterov=True),
          lambda ox, h: ox.rmsprop(h["lr"], decay=h["decay"], eps=h["eps"], eps_in_sqrt=False, centered=True,
                                   momentum=h["momentum"], nesterov=True),
          {"lr": 0.005, "parabola_steps": 800, "rosenbrock": {"lr": 5e-4}, "rosenbrock_steps": 8000}),
    Entry("adam", lambda h: optfn.adam(h["lr"], h["b1"], h["b2"], h["eps"]),
          {"lr": 0.01, "b1": 0.9, "b2": 0.999, "eps": 1e-8},
          lambda h: reference.adam(h["lr"], h["b1"], h["b2"], h["eps"]),
          lambda ox, h: ox.adam(h["lr"], h["b1"], h["b2"], h["eps"]),
          {"lr": 0.05, "parabola_steps": 600, "rosenbrock": {"lr": 0.01}, "rosenbrock_steps": 6000}),
    Entry("adamw", lambda h: optfn.adamw(h["lr"], h["b1"], h["b2"], h["eps"], weight_decay=h["wd"]),
          {"lr": 0.01, "b1": 0.9, "b2": 0.999, "eps": 1e-8, "wd": 0.1},
          lambda h: reference.adam(h["lr"], h["b1"], h["b2"], h["eps"], weight_decay=h["wd"]),
          lambda ox, h: ox.adamw(h["lr"], h["b1"], h["b2"], h["eps"], weight_decay=h["wd"]),
          {"lr": 0.05, "wd": 0.0, "parabola_steps": 600, "rosenbrock": {"lr": 0.01}, "rosenbrock_steps": 6000}),
    Entry("nadam", lambda h: optfn.nadam(h["lr"], h["b1"], h["b2"], h["eps"]),
          {"lr": 0.01, "b1": 0.9, "b2": 0.99, "eps": 1e-8},
          lambda h: reference.adam(h["lr"], h["b1"], h["b2"], h["eps"], nesterov=True),
          lambda ox, h: ox.nadam(h["lr"], h["b1"], h["b2"], h["eps"]),
          {"lr": 0.05, "parabola_steps": 600, "rosenbrock": {"lr": 0.01}, "rosenbrock_steps": 6000}),
    Entry("adadelta", lambda h: optfn.adadelta(h["lr"], rho=h["rho"], eps=h["eps"]),
          {"lr": 1.0, "rho": 0.9, "eps": 1e-6},
          lambda h: reference.adadelta(h["lr"], h["rho"], h["eps"]),
          lambda ox, h: ox.adadelta(h["lr"], rho=h["rho"], eps=h["eps"]),
          {"lr": 1.0, "eps": 1e-3, "parabola_steps": 800,
           "rosenbrock": {"lr": 0.02, "eps": 1e-5, "rho": 0.9999}, "rosenbrock_steps": 100000}),
]


def _adafactor(h):  # the relative step off: the reference is Shazeer & Stern's Algorithm 4/5 with clipping
    return optfn.adafactor(h["lr"], decay_rate=h["decay_rate"], clipping_threshold=h["clip"],
                           multiply_by_parameter_scale=False)


REGISTRY += [
    Entry("nadamw", lambda h: optfn.nadamw(h["lr"], h["b1"], h["b2"], h["eps"], weight_decay=h["wd"]),
          {"lr": 0.01, "b1": 0.9, "b2": 0.999, "eps": 1e-8, "wd": 0.1},
          lambda h: reference.adam(h["lr"], h["b1"], h["b2"], h["eps"], weight_decay=h["wd"], nesterov=True),
          lambda ox, h: ox.nadamw(h["lr"], h["b1"], h["b2"], h["eps"], weight_decay=h["wd"]),
          {"lr": 0.05, "wd": 0.0, "parabola_steps": 600, "rosenbrock": {"lr": 0.01}, "rosenbrock_steps": 6000}),
    Entry("adabelief", lambda h: optfn.adabelief(h["lr"], h["b1"], h["b2"], h["eps"], h["eps_root"]),
          {"lr": 0.01, "b1": 0.9, "b2": 0.999, "eps": 1e-16, "eps_root": 1e-16},
          lambda h: reference.adabelief(h["lr"], h["b1"], h["b2"], h["eps"], h["eps_root"]),
          lambda ox, h: ox.adabelief(h["lr"], h["b1"], h["b2"], h["eps"], h["eps_root"]),
          {"lr": 0.05, "parabola_steps": 600, "rosenbrock": {"lr": 0.01}, "rosenbrock_steps": 6000}),
    Entry("radam", lambda h: optfn.radam(h["lr"], h["b1"], h["b2"], h["eps"]),
          {"lr": 0.01, "b1": 0.9, "b2": 0.999, "eps": 1e-8},
          lambda h: reference.radam(h["lr"], h["b1"], h["b2"], h["eps"]),
          lambda ox, h: ox.radam(h["lr"], h["b1"], h["b2"], h["eps"]),
          {"lr": 0.05, "parabola_steps": 600, "rosenbrock": {"lr": 5e-3}, "rosenbrock_steps": 12000}),
    Entry("amsgrad", lambda h: optfn.amsgrad(h["lr"], h["b1"], h["b2"], h["eps"]),
          {"lr": 0.01, "b1": 0.9, "b2": 0.999, "eps": 1e-8},
          lambda h: reference.amsgrad(h["lr"], h["b1"], h["b2"], h["eps"]),
          lambda ox, h: ox.amsgrad(h["lr"], h["b1"], h["b2"], h["eps"]),
          {"lr": 0.05, "parabola_steps": 600, "rosenbrock": {"lr": 0.1}, "rosenbrock_steps": 20000}),
    Entry("adopt", lambda h: optfn.adopt(h["lr"], h["b1"], h["b2"], h["eps"]),
          {"lr": 0.01, "b1": 0.9, "b2": 0.9999, "eps": 1e-6},
          lambda h: reference.adopt(h["lr"], h["b1"], h["b2"], h["eps"]),
          lambda ox, h: ox.contrib.adopt(h["lr"], h["b1"], h["b2"], h["eps"]),
          {"lr": 0.05, "parabola_steps": 600, "rosenbrock": {"lr": 0.05}, "rosenbrock_steps": 20000}),
    Entry("ademamix", lambda h: optfn.ademamix(h["lr"], h["b1"], h["b2"], h["b3"], h["alpha"], h["eps"]),
          {"lr": 0.01, "b1": 0.9, "b2": 0.999, "b3": 0.999, "alpha": 5.0, "eps": 1e-8},
          lambda h: reference.ademamix(h["lr"], h["b1"], h["b2"], h["b3"], h["alpha"], h["eps"]),
          lambda ox, h: ox.contrib.ademamix(h["lr"], h["b1"], h["b2"], h["b3"], h["alpha"], h["eps"]),
          {"lr": 0.05, "parabola_steps": 800, "rosenbrock": {"lr": 2e-3}, "rosenbrock_steps": 20000}),
    Entry("cautious_adam", lambda h: optfn.cautious(optfn.adam(h["lr"], h["b1"]), h["eps"]),
          {"lr": 0.01, "b1": 0.9, "eps": 1e-3},
          lambda h: reference.cautious(reference.adam(h["lr"], h["b1"]), h["eps"]),
          None,
          {"lr": 0.05, "parabola_steps": 600, "rosenbrock": {"lr": 0.02}, "rosenbrock_steps": 20000}),
    Entry("adamax", lambda h: optfn.adamax(h["lr"], h["b1"], h["b2"], h["eps"]),
          {"lr": 0.01, "b1": 0.9, "b2": 0.999, "eps": 1e-8},
          lambda h: reference.adamax(h["lr"], h["b1"], h["b2"], h["eps"]),
          lambda ox, h: ox.adamax(h["lr"], h["b1"], h["b2"], h["eps"]),
          {"lr": 0.05, "parabola_steps": 600, "rosenbrock": {"lr": 0.01}, "rosenbrock_steps": 6000}),
    Entry("lion", lambda h: optfn.lion(h["lr"], h["b1"], h["b2"], weight_decay=h["wd"]),
          {"lr": 0.01, "b1": 0.9, "b2": 0.99, "wd": 0.1},
          lambda h: reference.lion(h["lr"], h["b1"], h["b2"], h["wd"]),
          lambda ox, h: ox.lion(h["lr"], h["b1"], h["b2"], weight_decay=h["wd"]),
          {"lr": 0.005, "wd": 0.0, "parabola_steps": 800, "rosenbrock": {"lr": 5e-4}, "rosenbrock_steps": 20000}),
    Entry("lion_smooth",
          lambda h: optfn.lion(h["lr"], h["b1"], h["b2"], weight_decay=h["wd"], mode="smooth",
                               smooth_beta=h["beta"]),
          {"lr": 0.01, "b1": 0.9, "b2": 0.99, "wd": 0.1, "beta": 2.0},
          lambda h: reference.lion(h["lr"], h["b1"], h["b2"], h["wd"], mode="smooth", smooth_beta=h["beta"]),
          lambda ox, h: ox.chain(ox.scale_by_lion(h["b1"], h["b2"], mode="smooth", smooth_beta=h["beta"]),
                                 ox.add_decayed_weights(h["wd"]), ox.scale_by_learning_rate(h["lr"])),
          # near the minimum tanh is linear: steps of lr * beta * |c|, slower than sign's lr
          {"lr": 0.005, "wd": 0.0, "parabola_steps": 2000, "rosenbrock": {"lr": 5e-4}, "rosenbrock_steps": 20000}),
    # signSGD moves every coordinate by exactly lr, so with a constant rate it stalls in
    # Rosenbrock's curved valley; it converges with a decaying one, lr / (1 + decay t)
    Entry("sign_sgd", lambda h: optfn.sign_sgd(lambda t: h["lr"] / (1 + h["decay"] * t.astype("float32"))),
          {"lr": 0.01, "decay": 0.0},
          lambda h: reference.sign_sgd(h["lr"]),
          lambda ox, h: ox.sign_sgd(h["lr"]),
          {"lr": 0.005, "parabola_steps": 800, "rosenbrock": {"lr": 0.02, "decay": 0.03}, "rosenbrock_steps": 40000}),
    Entry("signum", lambda h: optfn.signum(h["lr"], h["beta"]), {"lr": 0.01, "beta": 0.9},
          lambda h: reference.signum(h["lr"], h["beta"]),
          lambda ox, h: ox.signum(h["lr"], h["beta"]),
          {"lr": 0.005, "parabola_steps": 800, "rosenbrock": {"lr": 5e-4}, "rosenbrock_steps": 20000}),
    Entry("lamb", lambda h: optfn.lamb(h["lr"], h["b1"], h["b2"], h["eps"], weight_decay=h["wd"]),
          {"lr": 0.01, "b1": 0.9, "b2": 0.999, "eps": 1e-6, "wd": 0.1},
          lambda h: reference.lamb(h["lr"], h["b1"], h["b2"], h["eps"], h["wd"]),
          lambda ox, h: ox.lamb(h["lr"], h["b1"], h["b2"], h["eps"], weight_decay=h["wd"]),
          {"lr": 0.01, "wd": 0.0, "parabola_steps": 800, "rosenbrock": {"lr": 2e-3}, "rosenbrock_steps": 20000}),
    Entry("lars", lambda h: optfn.lars(h["lr"], h["wd"], trust_coefficient=h["tc"], momentum=h["momentum"]),
          {"lr": 0.5, "wd": 0.01, "tc": 0.01, "momentum": 0.9},
          lambda h: reference.lars(h["lr"], h["momentum"], h["tc"], h["wd"]),
          lambda ox, h: ox.lars(h["lr"], h["wd"], trust_coefficient=h["tc"], momentum=h["momentum"]),
          {"lr": 0.5, "wd": 0.0, "parabola_steps": 800, "rosenbrock": {"lr": 0.05}, "rosenbrock_steps": 20000}),
    Entry("adafactor", _adafactor, {"lr": 0.01, "decay_rate": 0.8, "clip": 1.0},
          lambda h: reference.adafactor(h["lr"], h["decay_rate"], clipping_threshold=h["clip"]),
          lambda ox, h: ox.adafactor(h["lr"], decay_rate=h["decay_rate"], clipping_threshold=h["clip"],
                                     multiply_by_parameter_scale=False),
          {"lr": 0.005, "parabola_steps": 800, "rosenbrock": {"lr": 5e-4}, "rosenbrock_steps": 20000}),
]



def _column(opt):
    """``opt`` on each vector leaf seen as a ``(n, 1)`` matrix: the problems here are vectors,
    Muon's orthogonalisation needs matrices."""
    def col(t):
        return jax.tree.map(lambda x: jax.ShapeDtypeStruct((x.size, 1), x.dtype) if isinstance(
            x, jax.ShapeDtypeStruct) else x.reshape(-1, 1), t)

    def update(g, s, p=None):
        u, s = opt.update(col(g), s, None if p is None else col(p))
        return jax.tree.map(lambda a, b: a.reshape(b.shape), u, g), s

    return optfn.GradientTransformation(lambda p: opt.init(col(p)), update)


def _column_ref(step):
    return lambda g, p: step(g.reshape(-1, 1), p.reshape(-1, 1)).reshape(g.shape)


def _decaying(h):  # orthogonalised steps have a fixed size: like signSGD, they need a decaying rate
    return lambda t: h["lr"] / (1 + h["decay"] * t.astype("float32"))


REGISTRY += [
    Entry("muon", lambda h: _column(optfn.muon(_decaying(h), beta=h["beta"], weight_decay=h["wd"])),
          {"lr": 0.01, "decay": 0.01, "beta": 0.95, "wd": 0.1},
          lambda h: _column_ref(reference.muon(lambda t: h["lr"] / (1 + h["decay"] * t), h["beta"],
                                               weight_decay=h["wd"])),
          lambda ox, h: _column(ox.contrib.muon(_decaying(h), beta=h["beta"], weight_decay=h["wd"])),
          {"lr": 0.5, "wd": 0.0, "decay": 0.05, "parabola_steps": 2000, "rosenbrock": {"lr": 0.05, "decay": 0.002},
           "rosenbrock_steps": 40000}),
    Entry("schedule_free_adamw",
          lambda h: optfn.schedule_free_adamw(h["lr"], b1=h["b1"], b2=h["b2"], eps=h["eps"], weight_decay=h["wd"]),
          {"lr": 0.01, "b1": 0.9, "b2": 0.999, "eps": 1e-8, "wd": 0.1},
          lambda h: reference.schedule_free_adamw(h["lr"], h["b1"], h["b2"], h["eps"], h["wd"]),
          lambda ox, h: ox.contrib.schedule_free_adamw(h["lr"], b1=h["b1"], b2=h["b2"], eps=h["eps"],
                                                       weight_decay=h["wd"]),
          {"lr": 0.05, "wd": 0.0, "parabola_steps": 800, "rosenbrock": {"lr": 0.01}, "rosenbrock_steps": 20000},
          # the average x is rebuilt from the float32 params y each step: a few ulps of y
          p_ulps=4),
    Entry("schedule_free_sgd", lambda h: optfn.schedule_free_sgd(h["lr"], b1=h["b1"], weight_decay=h["wd"]),
          {"lr": 0.02, "b1": 0.9, "wd": 0.1},
          lambda h: reference.schedule_free_sgd(h["lr"], h["b1"], h["wd"]),
          lambda ox, h: ox.contrib.schedule_free_sgd(h["lr"], b1=h["b1"], weight_decay=h["wd"]),
          {"lr": 0.04, "wd": 0.0, "parabola_steps": 800, "rosenbrock": {"lr": 2e-3}, "rosenbrock_steps": 30000},
          p_ulps=4),
    Entry("prodigy", lambda h: optfn.prodigy(h["lr"], (h["b1"], h["b2"]), eps=h["eps"], estim_lr0=h["d0"],
                                             weight_decay=h["wd"]),
          {"lr": 1.0, "b1": 0.9, "b2": 0.999, "eps": 1e-8, "d0": 1e-3, "wd": 0.01},
          lambda h: reference.prodigy(h["lr"], h["b1"], h["b2"], eps=h["eps"], d0=h["d0"], weight_decay=h["wd"]),
          lambda ox, h: ox.contrib.prodigy(h["lr"], (h["b1"], h["b2"]), eps=h["eps"], estim_lr0=h["d0"],
                                           weight_decay=h["wd"]),
          {"lr": 1.0, "wd": 0.0, "parabola_steps": 1500, "rosenbrock": {"lr": 0.3}, "rosenbrock_steps": 20000},
          # d grows with <g, x0 - x>: early on x0 - x is a few float32 ulps of x, so d (and
          # with it every step) carries their 1e-4 relative rounding
          rtol=2e-4),
    # the problems are vectors, where SOAP is Adam (no axis to rotate) with its first call a
    # pure record; tests/test_soap.py checks the rotations on matrices
    Entry("soap", lambda h: optfn.soap(h["lr"], h["b1"], h["b2"], eps=h["eps"], weight_decay=h["wd"]),
          {"lr": 0.01, "b1": 0.95, "b2": 0.95, "eps": 1e-8, "wd": 0.01},
          lambda h: reference.soap(h["lr"], h["b1"], h["b2"], h["eps"], h["wd"]),
          None,
          {"lr": 0.05, "wd": 0.0, "parabola_steps": 800, "rosenbrock": {"lr": 0.01}, "rosenbrock_steps": 20000}),
]

BY_NAME = {e.name: e for e in REGISTRY}
