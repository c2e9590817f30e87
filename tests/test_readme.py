"""The README's Python blocks run as written, unless marked as fragments.

A block preceded by a ``<!-- fragment ... -->`` line continues an earlier one or needs set-up it
does not show; every other ``python`` block is complete and runs here, each in a fresh
interpreter in an empty folder, so that a reader can paste it and see it work.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def _blocks():
    text = README.read_text(encoding="utf-8")
    for match in _BLOCK.finditer(text):
        before = text[:match.start()].rstrip().splitlines()
        line = text.count("\n", 0, match.start()) + 1
        fragment = bool(before) and before[-1].strip().startswith("<!-- fragment")
        yield line, match.group(1), fragment


COMPLETE = [(line, code) for line, code, fragment in _blocks() if not fragment]


def test_readme_has_complete_blocks_and_marks_the_rest():
    blocks = list(_blocks())
    assert len(COMPLETE) >= 3, "the README should show complete, runnable examples"
    for line, _code, fragment in blocks:
        if fragment:  # a fragment says what it needs
            text = README.read_text(encoding="utf-8").splitlines()
            marker = [row for row in text[:line - 1] if row.strip()][-1]
            assert len(marker.strip()) > len("<!-- fragment -->"), (line, marker)


@pytest.mark.parametrize("line, code", COMPLETE, ids=[f"line{line}" for line, _ in COMPLETE])
def test_readme_block_runs(line, code, tmp_path):
    env = {**os.environ, "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"README block at line {line} failed:\n{done.stderr[-3000:]}"
