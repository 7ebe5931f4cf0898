"""Output files (issue 10): `-` is stdout, modes are kept, symlinks followed, devices and FIFOs
written through, read-only files and a command's own inputs refused."""

import hashlib
import json
import os
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from jacchain.cli import cli

ROOT = Path(__file__).parent.parent


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def digest(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_dash_is_stdout(tmp_path):
    result = invoke("explain", "8,4,2", "--format", "json", "-o", "-")
    assert result.exit_code == 0 and json.loads(result.stdout)["network"]["sizes"] == [8, 4, 2]
    assert not (Path.cwd() / "-").exists()


def test_a_replaced_file_keeps_its_mode_and_a_new_one_follows_the_umask(tmp_path):
    kept = tmp_path / "kept.json"
    kept.write_text("old")
    kept.chmod(0o640)
    assert invoke("explain", "8,4,2", "--format", "json", "-o", kept).exit_code == 0
    assert kept.stat().st_mode & 0o777 == 0o640 and json.loads(kept.read_text())
    previous = os.umask(0o027)
    try:
        assert invoke("explain", "8,4,2", "--format", "json", "-o", tmp_path / "new.json").exit_code == 0
    finally:
        os.umask(previous)
    assert (tmp_path / "new.json").stat().st_mode & 0o777 == 0o640


def test_a_symlink_is_followed_and_stays_a_link(tmp_path):
    target = tmp_path / "real.json"
    target.write_text("stale")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    assert invoke("explain", "8,4,2", "--format", "json", "-o", link).exit_code == 0
    assert link.is_symlink() and json.loads(target.read_text())["network"]["sizes"] == [8, 4, 2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.json", "real.json"]


def test_a_fifo_is_written_through_not_replaced(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()))
    reader.start()
    result = invoke("explain", "8,4,2", "--format", "json", "-o", fifo)
    reader.join(timeout=10)
    assert result.exit_code == 0, result.output
    assert fifo.is_fifo() and json.loads(received[0])["network"]["sizes"] == [8, 4, 2]


def test_a_read_only_output_is_refused_before_any_work(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("keep me")
    target.chmod(0o444)
    result = invoke("analyze", "8,4,2", "-o", target)
    assert result.exit_code == 2
    assert result.output == f"Error: cannot write {target}: it is read-only; change its mode or choose another file\n"
    assert target.read_text() == "keep me"


def _dataset(folder):
    path = folder / "data.npz"
    rng = np.random.default_rng(0)
    np.savez(path, X=rng.standard_normal((40, 4)), y=rng.integers(0, 2, 40))
    return path


@pytest.mark.parametrize(
    "case",
    ["analyze-config", "explain-config", "check-baseline", "check-config", "train-data", "sweep-plot", "symlink"],
)
def test_an_output_that_is_an_input_is_refused_and_nothing_changes(tmp_path, case):
    config = tmp_path / "seed.yaml"
    shutil.copy(ROOT / "configs/seed.yaml", config)
    baseline = tmp_path / "baseline.json"
    shutil.copy(ROOT / "configs/flops-baseline.json", baseline)
    data = _dataset(tmp_path)
    link = tmp_path / "alias.yaml"
    link.symlink_to(config)
    plot_twice = ["--plot", tmp_path / "p.svg", "-o", tmp_path / "p.svg"]
    args = {
        "analyze-config": ["analyze", config, "--analytic", "-o", config],
        "explain-config": ["explain", config, "-o", config],
        "check-baseline": ["check", config, "--baseline", baseline, "-o", baseline],
        "check-config": ["check", config, "--baseline", baseline, "--update", "-o", config],
        "train-data": ["train", "4,3,2", "--loss", "cross_entropy", "--dataset", data, "--steps", "1", "-o", data],
        "sweep-plot": ["sweep", "8,4,2", "--vary", "input=2:4", "--points", "2", "--analytic", *plot_twice],
        "symlink": ["analyze", config, "--analytic", "-o", link],
    }[case]
    before = {p.name: digest(p) for p in tmp_path.iterdir() if p.is_file()}
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert result.output.startswith("Error: ") and result.output.count("\n") == 1
    assert "choose" in result.output
    assert {p.name: digest(p) for p in tmp_path.iterdir() if p.is_file()} == before
