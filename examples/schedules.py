"""The notes' learning-rate decays over 100 epochs, and the usual ones, in one plot.

    python examples/schedules.py [--out schedules.png]

Every schedule is driven by epochs with ``optfn.per_epoch`` (10 steps per epoch here),
starting from a0 = 0.2. Prints the value at a few epochs and saves the plot.
"""

import argparse

import jax.numpy as jnp

import optfn

STEPS_PER_EPOCH, A0 = 10, 0.2
SCHEDULES = {
    "a0 / (1 + 1.0 * epoch)": optfn.inverse_time_decay(A0, decay_rate=1.0),
    "0.95**epoch * a0": optfn.exponential_decay(A0, transition_steps=1, decay_rate=0.95),
    "k / sqrt(epoch) * a0, k=1": optfn.inverse_sqrt_decay(A0, k=1.0),
    "step-wise: x0.1 at 30, 60, 90": optfn.piecewise_constant(A0, {30: 0.1, 60: 0.1, 90: 0.1}),
    "cosine to 0 at 100": optfn.cosine_decay(A0, decay_steps=100),
    "warm-up 10, cosine to 100": optfn.warmup_cosine_decay(0.0, A0, warmup_steps=10, decay_steps=100),
    "linear to 0.02": optfn.linear(A0, 0.02, transition_steps=100),
}


def main(out="schedules.png"):
    epochs = jnp.arange(100)
    values = {}
    print(f"{'schedule':<32}" + "".join(f"{'epoch ' + str(e):>10}" for e in (0, 1, 2, 10, 50, 99)))
    for name, schedule in SCHEDULES.items():
        by_step = optfn.per_epoch(schedule, steps_per_epoch=STEPS_PER_EPOCH)
        values[name] = by_step(epochs * STEPS_PER_EPOCH)
        print(f"{name:<32}" + "".join(f"{float(values[name][e]):>10.4f}" for e in (0, 1, 2, 10, 50, 99)))
    if out:
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            print("matplotlib is not installed: no plot")
            return values
        fig, ax = plt.subplots(figsize=(8, 4.5))
        for name, v in values.items():
            ax.plot(epochs, v, label=name)
        ax.set(xlabel="epoch", ylabel="learning rate", yscale="log", title=f"decay schedules, a0 = {A0}")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out, dpi=100)
        print(f"plot saved to {out}")
    return values


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="schedules.png")
    main(parser.parse_args().out)
