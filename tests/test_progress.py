"""Long work shows a rich progress bar on a terminal, and nothing with `--format json` or
when stderr is not a terminal."""

import contextlib
import io
import re
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from jacchain.cli import cli, progress
from jacchain.cli.progress import progress_bar

ROOT = Path(__file__).parent.parent
ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_terminal_gets_a_bar_that_says_what_runs_and_takes_it_away_after(monkeypatch):
    monkeypatch.setattr(sys, "stderr", Terminal())
    with progress_bar(True) as update:
        update("running the plans of x", 3, 7)
    drawn = sys.stderr.getvalue()
    assert "running the plans of x" in ESCAPES.sub("", drawn) and "3/7" in drawn
    assert drawn.startswith("\x1b[?25l") and "\x1b[?25h" in drawn  # the cursor hidden, then shown again


@pytest.mark.parametrize("stream, enabled", [(Terminal, False), (io.StringIO, True)])
def test_no_bar_when_it_is_off_or_stderr_is_not_a_terminal(monkeypatch, stream, enabled):
    monkeypatch.setattr(sys, "stderr", stream())
    with progress_bar(enabled) as update:
        update("running the plans of x", 3, 7)
    assert sys.stderr.getvalue() == ""


@pytest.mark.parametrize(
    "command, said",
    [
        (["analyze", ROOT / "configs/jcdp-example.yaml", "--repeats", "1"], "running the plans of"),
        (["analyze", "12,8,3", "--repeats", "1"], "timing"),
        (["sweep", "12,8,3", "--vary", "layer1=4:8", "--points", "2", "--repeats", "1"], "layer1 = 8"),
        (["train", "12,8,3", "--steps", "3"], "step"),
    ],
)
def test_long_work_shows_its_progress_except_in_json(monkeypatch, command, said):
    seen = {}
    real = progress.progress_bar

    @contextlib.contextmanager
    def spy(enabled):
        said_now = seen.setdefault(enabled, [])
        with real(enabled) as update:
            yield lambda description, done, total: said_now.append(description) or update(description, done, total)

    monkeypatch.setattr(progress, "progress_bar", spy)
    for fmt in ("table", "json"):
        result = CliRunner().invoke(cli, [str(part) for part in (*command, "--format", fmt)])
        assert result.exit_code == 0, result.output
    assert set(seen) == {True, False}  # a bar for the table, none for json
    assert any(said in description for description in seen[True]), seen[True]
