"""Project-level guarantees: layering, the README's commands, lint."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def test_layers_import_only_downward():
    """The import-linter contract in pyproject.toml (backend -> autograd -> ... -> cli)."""
    result = subprocess.run([str(BIN / "lint-imports")], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "1 kept, 0 broken" in result.stdout


def _quick_start_commands():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```(?:bash|sh)\n(.+?)\n```", section, flags=re.S)


def test_readme_quick_start_has_two_commands_and_ci_runs_the_test_one():
    commands = _quick_start_commands()
    assert len(commands) == 2, commands
    main_job, test_command = commands
    assert "bpnn demo" in main_job or "examples/xor.py" in main_job
    assert "pytest" in test_command
    assert test_command.strip() in (ROOT / ".ci" / "run").read_text()


def test_ruff_is_clean():
    folders = ["src", "tests", "benchmarks", "examples"]
    result = subprocess.run([str(BIN / "ruff"), "check", *folders, "--quiet"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:]
