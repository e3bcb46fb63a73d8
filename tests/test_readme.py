"""The README's Python examples and every guide page's run as written.

Each page's blocks run in order in one namespace of their own. A block whose first line
is ``# after `optfn sweep``` needs a sweep's folder; ``tests/test_cli.py`` runs it there.
"""

import glob
import os
import re
import textwrap

import jax
import numpy as np
import pytest

ROOT = os.path.join(os.path.dirname(__file__), "..")
PAGES = ["README.md"] + sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "docs", "guide", "*.md")))
AFTER_SWEEP = "# after `optfn sweep`"


def blocks(page: str) -> list:
    with open(os.path.join(ROOT, page)) as f:
        return [textwrap.dedent(b) for b in re.findall(r"```python\n(.*?)```", f.read(), re.S)]


@pytest.mark.parametrize("page", PAGES)
def test_python_blocks_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a block that writes a file writes it here
    namespace = {}
    with jax.numpy_dtype_promotion("standard"):  # as a user runs them
        for block in blocks(page):  # a block in a list item is indented
            if not block.startswith(AFTER_SWEEP):
                exec(compile(block, page, "exec"), namespace)
    if page == "README.md":
        assert np.all(np.asarray(namespace["final_losses"]) < 1e-3)
        assert namespace["pick"]["test_metric"] > 0 and namespace["result"].confirmed is not None


def test_every_guide_page_is_in_the_docs_navigation():
    with open(os.path.join(ROOT, "mkdocs.yml")) as f:
        nav = f.read()
    for page in PAGES[1:]:
        assert page.removeprefix("docs/") in nav, page
