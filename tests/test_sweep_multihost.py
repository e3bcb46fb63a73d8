"""A sweep over two processes on 127.0.0.1 (jax.distributed) equals the one-process sweep."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

import multihost_problem

HERE = os.path.dirname(__file__)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(out, *flags, code=0):
    port = _free_port()
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
    procs = [subprocess.Popen([sys.executable, os.path.join(HERE, "multihost_worker.py"), "--process-id", str(i),
                               "--port", str(port), "--out", str(out), *flags],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for i in range(2)]
    logs = [p.communicate(timeout=300)[0] for p in procs]
    assert all(p.returncode == code for p in procs), "\n---\n".join(logs)


@pytest.mark.slow
def test_two_processes_gather_the_same_results_as_one(tmp_path):
    out = tmp_path / "results.json"
    _launch(out)
    _same(json.loads(out.read_text())["trials"], multihost_problem.run().trials)


@pytest.mark.slow  # two processes gathering the one-process results stays in the default run
def test_two_processes_stream_and_resume_an_orbax_checkpoint(tmp_path):
    """Each process feeds its own stream; an orbax checkpoint (each process writing its
    shards) interrupted at step 20 resumes in two new processes to the one-process results."""
    pytest.importorskip("orbax.checkpoint")
    out, folder = tmp_path / "results.json", str(tmp_path / "ckpt")
    _launch(out, "--stream", "--checkpoint", folder, "--stop-at", "20", code=3)
    assert not out.exists()
    for step in os.listdir(folder):  # each process wrote its own shards
        assert {"ocdbt.process_0", "ocdbt.process_1"} <= set(os.listdir(os.path.join(folder, step, "arrays")))
    _launch(out, "--stream", "--checkpoint", folder)
    _same(json.loads(out.read_text())["trials"], multihost_problem.run(stream=True).trials)


def _same(gathered, alone):
    assert [t["id"] for t in gathered] == [t["id"] for t in alone] == list(range(10))
    for a, b in zip(gathered, alone):
        assert a["status"] == b["status"] and a["steps"] == b["steps"]
        np.testing.assert_allclose(a["history"]["metric"], b["history"]["metric"], rtol=2e-5, atol=1e-7)
