"""The README's transcripts stay true: every count a `$ jacchain ...` transcript shows is what
the command prints now. Times and the machine's figures move from run to run; counts,
bracketings and FLOP ratios do not, so those are compared. A timed run is replayed with
`--analytic` (the same counts from the cost model, nothing built); `--plot` is dropped, so
nothing is written."""

import json
import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from jacchain.cli import cli

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text()
SKIPPED = ("calibrate", "train")  # the machine's figures; train's counts: the test below

COUNT = re.compile(r"(?<![\d.,])\d{1,3}(?:,\d{3})+(?![\d,]|\.\d)")  # 1,070,080; never a time or a rate
CELL = re.compile(r"(?<=[│|]) +(\d[\d,]*) +(?=[│|])")  # a table cell that is a whole number: a count
RATIO = re.compile(r"[\d,.]+x (?:the FLOPs|the optimum|fewer)|1/[\d.]+ of the cheaper")
BRACKETING = re.compile(r"`([^`]*\(.*?\)[^`]*)`|(?<=[│|]) ((?:\(+[^│|]*\)+)|[a-z_]+\[[^│|]*\)) *(?=[│|])")


def transcripts(*commands: str) -> list[tuple[str, str]]:
    """Each ```text block that opens with `$ jacchain`, of the commands given or else of every
    one not SKIPPED: (the command, what it shows)."""
    found = []
    for block in re.findall(r"```text\n(.*?)```", README, re.S):
        first, _, shown = block.partition("\n")
        if first.startswith("$ jacchain "):
            command = first.split()[2]
            if command in commands or (not commands and command not in SKIPPED):
                found.append((first[2:], shown))
    return found


def replay_args(command: str) -> list[str]:
    args = shlex.split(command)[1:]
    if "--plot" in args:
        at = args.index("--plot")
        del args[at : at + 2]
    if args[0] == "analyze" and "--analytic" not in args:
        args.append("--analytic")
    return args


def facts(text: str) -> set[str]:
    """What a transcript asserts that no machine changes."""
    found = set(COUNT.findall(text)) | set(CELL.findall(text)) | set(RATIO.findall(text))
    for quoted, cell in BRACKETING.findall(text):
        found.add((quoted or cell).strip())
    return found


TRANSCRIPTS = transcripts()


def test_the_readme_shows_transcripts_of_every_kind():
    commands = [command.split()[1] for command, _ in TRANSCRIPTS]
    assert commands.count("analyze") >= 4 and "explain" in commands


@pytest.mark.parametrize("command, shown", TRANSCRIPTS, ids=[command for command, _ in TRANSCRIPTS])
def test_a_readme_transcript_shows_what_the_command_prints(command, shown, monkeypatch):
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("COLUMNS", "400")  # no cell wrapped: each bracketing on one line
    result = CliRunner().invoke(cli, replay_args(command))
    assert result.exit_code == 0, result.output
    claimed = facts(shown)
    assert claimed, f"nothing to compare in the transcript of {command}"
    missing = claimed - facts(result.output)
    assert not missing, f"the README's `{command}` shows {sorted(missing)}, which it no longer prints"


def test_the_readme_train_transcript_counts_what_a_step_performs(monkeypatch):
    [(command, shown)] = transcripts("train")
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(cli, [*shlex.split(command)[1:], "--steps", "1", "--format", "json"])
    assert result.exit_code == 0, result.output
    flops = json.loads(result.output)["flops_per_step"]
    parts_shown = r"\(forward ([\d,]+), backward ([\d,]+), update ([\d,]+)\)"
    loss_first = re.search(r"loss-first \(counted\)\s+│ ([\d,]+) " + parts_shown, shown)
    input_first = re.search(r"input-first \(modelled\) │ ([\d,]+)", shown)
    assert loss_first and input_first, "the transcript's FLOPs rows moved"
    as_int = [int(text.replace(",", "")) for text in loss_first.groups()]
    parts = flops["loss_first_parts"]
    assert as_int == [flops["loss_first"], parts["forward"], parts["backward"], parts["update"]]
    assert int(input_first.group(1).replace(",", "")) == flops["input_first"]
