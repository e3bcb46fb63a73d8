"""Compose optimizers from parts, and mix optfn with optax both ways.

    python examples/compose.py

1. AdamW assembled by hand: clip the global norm, Adam's scaling, decoupled weight
   decay, a warm-up cosine learning rate. It equals optfn.adamw with the same clip.
2. optfn parts inside optax.chain, and optax parts inside optfn.chain: the same numbers.
Each optimizer trains the same small regression; the script prints the final losses.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax

import optfn

X = jax.random.normal(jax.random.key(0), (256, 10))
Y = X @ jnp.linspace(-1.0, 1.0, 10) + 0.5
PARAMS = {"w": jnp.zeros(10), "b": jnp.zeros(())}


def loss(p):
    return jnp.mean((X @ p["w"] + p["b"] - Y) ** 2)


def train(opt, apply=optfn.apply_updates, steps=300):
    def body(carry, _):
        p, s = carry
        u, s = opt.update(jax.grad(loss)(p), s, p)
        return (apply(p, u), s), loss(p)

    (p, _), curve = jax.jit(lambda: jax.lax.scan(body, (PARAMS, opt.init(PARAMS)), length=steps))()
    return p, curve


def main():
    schedule = optfn.warmup_cosine_decay(0.0, 0.05, warmup_steps=30, decay_steps=300)
    by_hand = optfn.chain(
        optfn.clip_by_global_norm(1.0),
        optfn.scale_by_adam(b1=0.9, b2=0.999),
        optfn.add_decayed_weights(1e-4, mask=lambda p: {"w": True, "b": False}),
        optfn.scale_by_learning_rate(schedule),
    )
    alias = optfn.chain(optfn.clip_by_global_norm(1.0),
                        optfn.adamw(schedule, weight_decay=1e-4, mask=lambda p: {"w": True, "b": False}))
    optfn_in_optax = optax.chain(optax.clip_by_global_norm(1.0), optfn.adam(schedule))
    optax_in_optfn = optfn.chain(optax.clip_by_global_norm(1.0), optax.scale_by_adam(),
                                 optfn.scale_by_learning_rate(schedule))
    pure_optax = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(optax.warmup_cosine_decay_schedule(
        0.0, 0.05, warmup_steps=30, decay_steps=300)))

    runs = {}
    with jax.numpy_dtype_promotion("standard"):  # optax mixes dtypes implicitly
        for name, opt in [("adamw by hand", by_hand), ("optfn.adamw", alias), ("optfn.adam in optax.chain", optfn_in_optax),
                          ("optax parts in optfn.chain", optax_in_optfn), ("optax alone", pure_optax)]:
            runs[name] = train(opt, optax.apply_updates if "optax" in name else optfn.apply_updates)
    print(f"{'optimizer':<30}{'loss at 0':>12}{'loss at 300':>14}")
    for name, (p, curve) in runs.items():
        print(f"{name:<30}{float(curve[0]):>12.4f}{float(loss(p)):>14.2e}")
    same = np.allclose(runs["adamw by hand"][0]["w"], runs["optfn.adamw"][0]["w"], rtol=1e-6)
    mixed = all(np.allclose(runs[k][0]["w"], runs["optax alone"][0]["w"], rtol=1e-4, atol=1e-6)
                for k in ("optfn.adam in optax.chain", "optax parts in optfn.chain"))
    print(f"by hand == alias: {same}; mixed chains == optax alone: {mixed}")
    return same, mixed


if __name__ == "__main__":
    main()
