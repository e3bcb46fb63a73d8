"""The README's Python examples run as written."""

import os
import re
import textwrap

import jax
import numpy as np

README = os.path.join(os.path.dirname(__file__), "..", "README.md")


def test_readme_python_blocks_run():
    with open(README) as f:
        blocks = re.findall(r"```python\n(.*?)```", f.read(), re.S)
    assert blocks
    namespace = {}
    with jax.numpy_dtype_promotion("standard"):  # as a user runs them
        for block in blocks:
            exec(compile(textwrap.dedent(block), "README.md", "exec"), namespace)  # a block in a list item is indented
    assert np.all(np.asarray(namespace["final_losses"]) < 1e-3)
