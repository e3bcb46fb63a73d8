"""A sweep over two processes on 127.0.0.1 (jax.distributed) equals the one-process sweep."""

import json
import os
import socket
import subprocess
import sys

import numpy as np

import multihost_problem

HERE = os.path.dirname(__file__)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_gather_the_same_results_as_one(tmp_path):
    port, out = _free_port(), tmp_path / "results.json"
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
    procs = [subprocess.Popen([sys.executable, os.path.join(HERE, "multihost_worker.py"), "--process-id", str(i),
                               "--port", str(port), "--out", str(out)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for i in range(2)]
    logs = [p.communicate(timeout=300)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), "\n---\n".join(logs)
    gathered = json.loads(out.read_text())["trials"]
    alone = multihost_problem.run().trials
    assert [t["id"] for t in gathered] == [t["id"] for t in alone] == list(range(10))
    for a, b in zip(gathered, alone):
        assert a["status"] == b["status"] and a["steps"] == b["steps"]
        np.testing.assert_allclose(a["history"]["metric"], b["history"]["metric"], rtol=2e-5, atol=1e-7)
