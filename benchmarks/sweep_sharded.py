"""A sweep on 1 device vs all devices (trials sharded over a mesh).

    python benchmarks/sweep_sharded.py [--devices 2] [--trials 64] [--steps 200]

On a CPU, --devices fakes that many host devices (XLA_FLAGS, set before JAX starts);
on a GPU machine the real devices are used. Each configuration is compiled first; run
times are medians of --reps runs.
"""

import argparse
import os
import statistics
import time

parser = argparse.ArgumentParser()
parser.add_argument("--devices", type=int, default=2)
parser.add_argument("--trials", type=int, default=64)
parser.add_argument("--steps", type=int, default=200)
parser.add_argument("--reps", type=int, default=5)
args = parser.parse_args()
if "--xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "") + f" --xla_force_host_platform_device_count={args.devices}"

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

import optfn  # noqa: E402
from optfn import sweep  # noqa: E402


def data():
    d = load_digits()
    x, y = jnp.asarray(d.data / 16.0, jnp.float32), jnp.asarray(d.target, jnp.int32)
    return {"x": x[:1400], "y": y[:1400]}, {"x": x[1400:], "y": y[1400:]}


def init(key, hp=None):
    k1, k2 = jax.random.split(key)
    return [{"w": jax.nn.initializers.he_normal()(k1, (64, 128)), "b": jnp.zeros(128)},
            {"w": jax.nn.initializers.glorot_normal()(k2, (128, 10)), "b": jnp.zeros(10)}]


def loss(params, batch):
    h = jax.nn.relu(batch["x"] @ params[0]["w"] + params[0]["b"])
    logp = jax.nn.log_softmax(h @ params[1]["w"] + params[1]["b"])
    return -jnp.mean(jnp.take_along_axis(logp, batch["y"][:, None], axis=1))


def main():
    train, val = data()
    space = sweep.Space({"learning_rate": sweep.log_uniform(1e-4, 1e-1), "b1": sweep.one_minus_log_uniform(0.8, 0.99)})
    hps = space.sample(args.trials, seed=0)
    runner = sweep.Runner(init=init, loss=loss, data=train, evaluate=loss, eval_data=val,
                          optimizer=lambda h: optfn.adam(h["learning_rate"], b1=h["b1"]),
                          steps=args.steps, chunk_steps=args.steps // 4, batch_size=128)
    devices = jax.devices()[: args.devices]
    configs = {"1 device": None, f"{len(devices)} devices": sweep.trials_mesh(devices)}
    results, times = {}, {name: [] for name in configs}
    for name, mesh in configs.items():
        results[name] = runner.run(space, hps, mesh=mesh)  # compiles
    for _ in range(args.reps):
        for name, mesh in configs.items():  # interleaved
            t0 = time.perf_counter()
            runner.run(space, hps, mesh=mesh)
            times[name].append(time.perf_counter() - t0)
    print(f"jax {jax.__version__}, backend {jax.default_backend()}, {jax.device_count()} devices "
          f"({devices[0].device_kind}); {args.trials} trials x {args.steps} steps, MLP 64-128-10, batch 128")
    base = statistics.median(times["1 device"])
    for name in configs:
        med = statistics.median(times[name])
        print(f"{name:<12} {med:7.3f} s   speed-up {base / med:4.2f}x")
    a, b = (results[n].history() for n in configs)
    print(f"max relative difference of the metric histories: {abs(a / b - 1).max():.1e} "
          f"(program width {results['1 device'].width}, the same on both)")


if __name__ == "__main__":
    main()
