"""The hostile-input corpus (issue 10): every command, fed bad specs, configs, options, data
files, baselines, calibration caches and outputs, ends in a valid result or in exactly one
`Error: ...` line with its exit code; no input changes and no stray file is left behind.

Each case runs in its own folder; the corpus hashes every file before and after. The cases
that used to hang or grow memory without limit run in a child process under a 3 GiB address
space limit and a 20 s timeout."""

import hashlib
import io
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jacchain.cli import cli

ROOT = Path(__file__).parent.parent
SEED = (ROOT / "configs/seed.yaml").read_text()
HUGE = str(10**400)


def npz(**arrays):
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def npy(array):
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


GOOD_X, GOOD_Y = np.random.default_rng(0).standard_normal((30, 4)), np.arange(30) % 2
GOOD_NPZ = npz(X=GOOD_X, y=GOOD_Y)
CHAIN = (
    "chain:\n  - {inputs: 5, outputs: 1, tangent_cost: 6, adjoint_cost: 6, tape: 20}\n"
    "  - {inputs: 1, outputs: 4, tangent_cost: 5, adjoint_cost: 8, tape: 30}\n"
)
BASELINE = json.dumps({"schema_version": 1, "settings": ["of=loss,wrt=input,granularity=layer"], "configs": {}})


@dataclass(frozen=True)
class Case:
    kind: str  # the class of the issue it belongs to
    args: tuple[str, ...]
    files: dict[str, bytes] = field(default_factory=dict)
    exit: int = 2
    message: str = ""  # a part of the one error line
    writes: tuple[str, ...] = ()  # files the command may create or replace
    cache: bytes | None = None  # the calibration cache's content


def case(kind, *args, files=None, exit=2, message="", writes=(), cache=None):
    encoded = {name: text.encode() if isinstance(text, str) else text for name, text in (files or {}).items()}
    return Case(kind, tuple(args), encoded, exit, message, tuple(writes), cache)


TRAIN = ("train", "4,3,2", "--loss", "cross_entropy", "--steps", "2")
SPEC_COMMANDS = (("analyze",), ("explain",), ("train", "--steps", "1"), ("sweep", "--vary", "input=2:3"))
BAD_SPECS = ["", ",", "0,3", "3,0", "-3,4", "3.5,2", "abc", "٣,٤", "８,４", "3,,4", "1e3,4", "3;4", "3,4,", "3 4"]

CASES = {
    # --- inputs: specs on every command that takes one
    # Every bad spec on analyze; the first few on the other commands too (one parser serves all).
    **{
        f"spec-{command[0]}-{index}": case("inputs", command[0], spec, *command[1:], message="spec")
        for command in SPEC_COMMANDS
        for index, spec in enumerate(BAD_SPECS if command[0] == "analyze" else BAD_SPECS[2:6])
    },
    "spec-missing-file": case("inputs", "analyze", "nope.yaml", message="no such file"),
    "spec-folder": case(
        "inputs", "analyze", "sub.yaml", files={"sub.yaml/x": ""}, message="sub.yaml: is a folder; SPEC is one YAML"
    ),
    "check-bad-spec": case("inputs", "check", "0,3", "--baseline", "b.json", files={"b.json": BASELINE}),
    # --- inputs: configs
    "config-billion-laughs": case(
        "hangs",
        "analyze",
        "c.yaml",
        files={
            "c.yaml": "a: &a [x, x]\n"
            + "".join(f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}]\n" for i in range(9))
        },
        message="anchors",
    ),
    "config-recursive-alias": case(
        "tracebacks", "analyze", "c.yaml", files={"c.yaml": "a: &a [*a]\n"}, message="c.yaml"
    ),
    "config-duplicate-key": case("inputs", "analyze", "c.yaml", files={"c.yaml": "input: 4\ninput: 5\nlayers: [3]\n"}),
    "config-not-mapping": case("inputs", "explain", "c.yaml", files={"c.yaml": "- 1\n- 2\n"}),
    "config-empty": case("inputs", "explain", "c.yaml", files={"c.yaml": ""}),
    "config-unknown-key": case("inputs", "explain", "c.yaml", files={"c.yaml": "input: 4\nlayers: [3]\nsize: 2\n"}),
    "config-width-text": case("inputs", "explain", "c.yaml", files={"c.yaml": "input: x\nlayers: [3]\n"}),
    "config-width-bool": case("inputs", "explain", "c.yaml", files={"c.yaml": "input: true\nlayers: [3]\n"}),
    "config-width-float": case("inputs", "explain", "c.yaml", files={"c.yaml": "input: 1.5\nlayers: [3]\n"}),
    "config-activation": case(
        "inputs", "explain", "c.yaml", files={"c.yaml": "input: 4\nlayers: [{width: 3, activation: swish}]\n"}
    ),
    "config-loss": case("inputs", "explain", "c.yaml", files={"c.yaml": "input: 4\nlayers: [3]\nloss: hinge\n"}),
    "config-dtype": case("inputs", "explain", "c.yaml", files={"c.yaml": "input: 4\nlayers: [3]\ndtype: float16\n"}),
    "config-seed": case("inputs", "explain", "c.yaml", files={"c.yaml": "input: 4\nlayers: [3]\nseed: -1\n"}),
    "config-lr-inf": case("inputs", "train", "c.yaml", files={"c.yaml": "input: 4\nlayers: [3]\ntrain: {lr: .inf}\n"}),
    "config-deep": case("tracebacks", "explain", "c.yaml", files={"c.yaml": "input: " + "[" * 200 + "]" * 200 + "\n"}),
    "config-bad-utf8": case("inputs", "explain", "c.yaml", files={"c.yaml": b"input: \xff\xfe\nlayers: [3]\n"}),
    "config-binary": case("inputs", "explain", "c.yaml", files={"c.yaml": bytes(range(256))}),
    "config-tabs": case("inputs", "explain", "c.yaml", files={"c.yaml": "input: 4\n\tlayers: [3]\n"}),
    # An explicit run of this size is refused before the machine is measured.
    "config-huge-explicit": case("hangs", "analyze", f"{HUGE},3", message="--analytic"),
    "huge-plot": case(
        "tracebacks",
        "sweep",
        f"4,{HUGE},3",
        "--vary",
        "input=2:4",
        "--points",
        "2",
        "--analytic",
        "--plot",
        "p.svg",
        message="--plot",
    ),
    "huge-cost-time": case(
        "tracebacks",
        "analyze",
        f"{HUGE},3,{HUGE}",
        "--analytic",
        "--cost",
        "time",
        message="--cost",
        writes=("cache/calibration.json",),
    ),
    # --- chains of elementals
    "chain-mismatch": case(
        "inputs", "analyze", "k.yaml", files={"k.yaml": CHAIN.replace("inputs: 1", "inputs: 2")}, message="k.yaml"
    ),
    "chain-negative": case(
        "inputs", "explain", "k.yaml", files={"k.yaml": CHAIN.replace("tape: 20", "tape: -1")}, message="tape"
    ),
    "chain-to-train": case("inputs", "train", "k.yaml", files={"k.yaml": CHAIN}, message="not a network"),
    "chain-to-sweep": case("inputs", "sweep", "k.yaml", "--vary", "input=2:3", files={"k.yaml": CHAIN}),
    "chain-memory": case("inputs", "analyze", "k.yaml", "--memory", "-1", files={"k.yaml": CHAIN}, message="--memory"),
    "chain-machines": case(
        "inputs", "analyze", "k.yaml", "--machines", "0", files={"k.yaml": CHAIN}, message="--machines"
    ),
    "chain-time-limit": case("inputs", "analyze", "k.yaml", "--time-limit", "0", files={"k.yaml": CHAIN}),
    # NaN passes click's range (every comparison with it is false), and would never time out
    "chain-time-limit-nan": case(
        "inputs", "analyze", "k.yaml", "--machines", "2", "--time-limit", "nan", files={"k.yaml": CHAIN}, message="nan"
    ),
    "chain-plot-alone": case(
        "inputs", "analyze", "k.yaml", "--plot", "g.svg", files={"k.yaml": CHAIN}, message="--machines"
    ),
    "chain-network-memory": case(
        "hangs", "analyze", "400,300,10", "--order", "matrix-free", "--max-memory", "1MiB", message="--max-memory"
    ),
    "chain-ok": case(
        "inputs",
        "analyze",
        "k.yaml",
        "--machines",
        "2",
        "--memory",
        "10",
        files={"k.yaml": CHAIN},
        exit=0,
        writes=("cache/calibration.json",),
    ),
    "chain-surrogates-too-big": case(
        "hangs",
        "analyze",
        "k.yaml",
        files={"k.yaml": "chain: [{inputs: 3, outputs: 3, tangent_cost: 10000000000000, adjoint_cost: 1, tape: 1}]\n"},
        message="--analytic",
    ),
    # --- inputs: option values
    "option-lr-inf": case("inputs", *TRAIN, "--lr", "inf", message="--lr"),
    "option-lr-nan": case("inputs", *TRAIN, "--lr", "nan", message="--lr"),
    "option-decay-inf": case("inputs", *TRAIN, "--weight-decay", "inf", message="--weight-decay"),
    "option-momentum-1": case("inputs", *TRAIN, "--momentum", "1", message="--momentum"),
    "option-batch-0": case("inputs", *TRAIN, "--batch", "0", message="--batch"),
    "option-threads-0": case("inputs", "analyze", "4,3", "--threads", "0", message="--threads"),
    "option-max-memory": case("inputs", "analyze", "4,3", "--max-memory", "lots", message="lots"),
    "option-max-memory-0": case("inputs", *TRAIN, "--max-memory", "0", message="--max-memory"),
    "option-repeats": case("inputs", "analyze", "4,3", "--repeats", "0", message="--repeats"),
    "option-points": case("inputs", "sweep", "4,3", "--vary", "input=2:3", "--points", "0"),
    "option-vary": case("inputs", "sweep", "4,3", "--vary", "layer9=2:3", message="layer9"),
    "option-vary-reversed": case("inputs", "sweep", "4,3", "--vary", "input=5:2"),
    "option-format": case("inputs", "analyze", "4,3", "--format", "yaml", message="--format"),
    "option-order": case("inputs", "analyze", "4,3", "--order", "sideways", message="sideways"),
    # a value that names no order is refused, not read as "every order"
    "option-order-empty": case("inputs", "analyze", "4,3", "--order", ",", message="unknown order ','"),
    "option-of-wrt": case("inputs", "analyze", "4,3", "--of", "output", "--wrt", "params"),
    "option-dtype": case("inputs", "calibrate", "--dtype", "float16", message="--dtype"),
    "option-schema": case("inputs", "schema", "everything"),
    "option-unknown": case("inputs", "analyze", "4,3", "--colour", message="--colour"),
    "option-threads-capped": case("inputs", "analyze", "4,3", "--analytic", "--threads", "100000", exit=0),
    # --- inputs: data files
    **{
        f"data-{name}": case(
            "inputs", *TRAIN, "--dataset", f"d.{suffix}", files={f"d.{suffix}": content}, message=f"d.{suffix}"
        )
        for name, suffix, content in [
            ("scalar-y", "npz", npz(X=GOOD_X, y=np.array(3))),
            ("string-x", "npz", npz(X=np.array([["a"] * 4] * 30), y=GOOD_Y)),
            ("npy-content", "npz", npy(GOOD_X)),
            ("truncated", "npz", GOOD_NPZ[: len(GOOD_NPZ) // 2]),
            ("empty", "npz", b""),
            ("not-zip", "npz", b"PK\x03\x04 this is not a zip"),
            ("missing-y", "npz", npz(X=GOOD_X)),
            ("nan-x", "npz", npz(X=np.where(np.eye(30, 4) > 0, np.nan, GOOD_X), y=GOOD_Y)),
            ("inf-y", "npz", npz(X=GOOD_X, y=np.where(np.arange(30) == 7, np.inf, GOOD_Y))),
            ("label-range", "npz", npz(X=GOOD_X, y=np.arange(30) % 5)),
            ("label-float", "npz", npz(X=GOOD_X, y=GOOD_Y + 0.5)),
            ("label-negative", "npz", npz(X=GOOD_X, y=-GOOD_Y - 1)),
            ("features", "npz", npz(X=GOOD_X[:, :3], y=GOOD_Y)),
            ("rows", "npz", npz(X=GOOD_X, y=GOOD_Y[:10])),
            ("complex", "npz", npz(X=GOOD_X * 1j, y=GOOD_Y)),
            ("x-3d", "npz", npz(X=GOOD_X.reshape(30, 2, 2), y=GOOD_Y)),
            ("csv-text", "csv", "1,2,3,4,0\n1,2,x,4,1\n"),
            ("csv-ragged", "csv", "1,2,3,4,0\n1,2,3\n"),
            ("csv-nan", "csv", "1,2,3,4,0\n1,2,nan,4,1\n"),
            ("csv-empty", "csv", ""),
            ("csv-binary", "csv", bytes(range(256))),
        ]
    },
    "data-text-as-npz": case(
        "inputs", *TRAIN, "--dataset", "d.npz", files={"d.npz": "1,2,3,4,0\n"}, message="d.npz: not an .npz archive"
    ),
    "data-missing": case("inputs", *TRAIN, "--dataset", "none.npz", message="none.npz"),
    "data-unknown": case("inputs", *TRAIN, "--dataset", "mnist", message="mnist"),
    # --- baselines
    **{
        f"baseline-{name}": case(
            "data loss", "check", "4,3", "--baseline", "b.json", *extra, files={"b.json": content}, message="b.json"
        )
        for name, content, extra in [
            ("not-json", "{oops", ()),
            ("deep", "[" * 100_000 + "]" * 100_000, ()),
            ("empty-settings", json.dumps({"schema_version": 1, "settings": [], "configs": {}}), ("--update",)),
            ("schema-version", json.dumps({"schema_version": 9, "settings": [], "configs": {}}), ()),
            (
                "configs-list",
                json.dumps({"schema_version": 1, "settings": ["of=loss,wrt=input,granularity=layer"], "configs": []}),
                (),
            ),
            (
                "bool-count",
                json.dumps(
                    {
                        "schema_version": 1,
                        "settings": ["of=loss,wrt=input,granularity=layer"],
                        "configs": {"4,3": {"s": {"o": {"flops": True}}}},
                    }
                ),
                (),
            ),
            ("bad-setting", json.dumps({"schema_version": 1, "settings": ["of=everything"], "configs": {}}), ()),
            ("empty-file", "", ("--update",)),
        ]
    },
    "baseline-missing": case("data loss", "check", "4,3", "--baseline", "none.json", message="--update"),
    "baseline-prune-alone": case(
        "data loss", "check", "4,3", "--baseline", "b.json", "--prune", files={"b.json": BASELINE}
    ),
    "baseline-folder": case("data loss", "check", "4,3", "--baseline", "b.json", files={"b.json/x": ""}),
    "baseline-created": case(
        "data loss", "check", "4,3", "--baseline", "new.json", "--update", exit=0, writes=("new.json",)
    ),
    "baseline-other-entries-kept": case(
        "data loss",
        "check",
        "4,3",
        "--baseline",
        "b.json",
        "--update",
        files={"b.json": BASELINE},
        exit=0,
        writes=("b.json",),
    ),
    # --- outputs
    "output-is-config": case(
        "data loss", "explain", "c.yaml", "-o", "c.yaml", files={"c.yaml": SEED}, message="c.yaml"
    ),
    "output-is-baseline": case(
        "data loss", "check", "4,3", "--baseline", "b.json", "-o", "b.json", files={"b.json": BASELINE}
    ),
    "output-is-data": case("data loss", *TRAIN, "--dataset", "d.npz", "-o", "d.npz", files={"d.npz": GOOD_NPZ}),
    "output-is-plot": case(
        "data loss", "sweep", "4,3", "--vary", "input=2:3", "--analytic", "--plot", "p.svg", "-o", "p.svg"
    ),
    "output-missing-folder": case("data loss", "explain", "4,3", "-o", "no/such/out.txt", message="does not exist"),
    "output-folder": case("data loss", "explain", "4,3", "-o", "sub", files={"sub/x": ""}, message="folder"),
    "output-plot-suffix": case("data loss", "sweep", "4,3", "--vary", "input=2:3", "--analytic", "--plot", "p.gif"),
    "output-ok": case("data loss", "explain", "4,3", "-o", "out.txt", exit=0, writes=("out.txt",)),
    "output-stdout": case("data loss", "explain", "4,3", "-o", "-", exit=0),
    # --- calibration caches: ignored and measured again, never a traceback
    **{
        f"cache-{name}": case(
            "measurements", "analyze", "4,3", exit=0, cache=content, writes=("cache/calibration.json",)
        )
        for name, content in [
            ("garbage", bytes(range(256))),
            ("list", b"[1, 2, 3]"),
            ("entries-list", json.dumps({"schema_version": 5, "entries": [1]}).encode()),
            ("entry-list", json.dumps({"schema_version": 5, "entries": {"x": [1]}}).encode()),
            ("deep", b"[" * 100_000 + b"]" * 100_000),
        ]
    },
}


def _digests(folder):
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def _prepare(folder, spec: Case):
    for name, content in spec.files.items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    if spec.cache is not None:
        (folder / "cache").mkdir(exist_ok=True)
        (folder / "cache" / "calibration.json").write_bytes(spec.cache)


def check_outcome(result_code, stdout, stderr, spec: Case):
    assert "Traceback" not in stdout + stderr
    assert result_code == spec.exit, (result_code, stdout[-300:], stderr[-300:])
    if spec.exit == 2:
        assert stderr.startswith("Error: ") and stderr.count("\n") == 1, stderr
        assert not stderr.startswith("Error: unexpected") and spec.message in stderr


@pytest.mark.parametrize("name", sorted(CASES))
def test_corpus(name, tmp_path, monkeypatch):
    spec = CASES[name]
    _prepare(tmp_path, spec)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("JACCHAIN_CACHE_DIR", str(tmp_path / "cache"))
    before = _digests(tmp_path)
    started = time.perf_counter()
    result = CliRunner().invoke(cli, list(spec.args))
    assert time.perf_counter() - started < 20
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss < 3 * 2**20  # KiB: under 3 GiB, all cases so far
    check_outcome(result.exit_code, result.stdout, result.stderr, spec)
    after = _digests(tmp_path)
    written = {path for path in after if path in spec.writes}
    assert {path: digest for path, digest in after.items() if path not in written} == {
        path: digest for path, digest in before.items() if path not in spec.writes
    }
    assert not [path for path in after if Path(path).name.startswith(".")]  # no temporary left


def _limited():
    resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))


BOUNDED = {
    "train-gpt3": ["train", "gpt3.yaml"],
    "dp-10000-layers": ["analyze", ",".join(["8"] * 10_001), "--no-time-model"],
    "train-huge": ["train", f"{HUGE},3"],
    "analytic-huge": [
        "analyze",
        f"{HUGE},3,{HUGE}",
        "--analytic",
        "--no-time-model",
        "--order",
        "loss-first,input-first",
    ],
}


# A command whose work catches the stop's exception, as a ctypes callback or `__del__` does,
# or turns it into another one, as Python 3.11 does inside `__set_name__`.
STUBBORN = """
import sys, time, weakref
import jacchain.jobs.analyze as job
from jacchain.cli import main

real, mode = job.analyze, sys.argv.pop(1)

class Thing:
    pass


def unraisable():
    # Objects whose weakref callback runs for 10 ms: a signal lands inside it, where Python
    # reports the handler's exception as unraisable and drops it (seen in importlib's locks).
    def callback(ref):
        if not ready:
            ready.append(print("ready", flush=True))
        time.sleep(0.01)

    ready = []
    while True:
        thing = Thing()
        ref = weakref.ref(thing, callback)
        del thing


def stubborn(*args, **kwargs):
    if mode == "unraisable":
        unraisable()
    ready = False
    while True:
        try:
            if not ready:  # said inside the try, so that the signal cannot come before it
                ready = True
                print("ready", flush=True)
            time.sleep(0.01)
        except BaseException:
            if mode == "converted":
                raise RuntimeError("Error calling __set_name__") from None
            if mode == "swallowed-then-done":
                return real(*args, **kwargs)

job.analyze = stubborn
main()
"""


STOPS = [
    ("swallowed-forever", signal.SIGTERM),
    ("swallowed-then-done", signal.SIGTERM),
    ("converted", signal.SIGTERM),
    ("swallowed-forever", signal.SIGINT),
    ("unraisable", signal.SIGTERM),
]


def _start_stubborn(folder):
    """The STOPS cases, each in a folder of its own, told to stop once ready."""
    children = []
    for mode, signum in STOPS:
        home = folder / f"{mode}-{signum}"
        home.mkdir(parents=True)
        command = [sys.executable, "-c", STUBBORN, mode, "analyze", "8,4", "--format", "json", "-o", "out.json"]
        child = subprocess.Popen(command, cwd=home, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        children.append((home, signum, child))
    for _, signum, child in children:
        assert child.stdout.readline() == "ready\n"
        child.send_signal(signum)
    return children, time.monotonic()


def _stopped_for_certain(children, started):
    """Exit 128 + the signal, the one line, no output and no temporary, whatever became of the
    exception: within the grace period when the work never ends."""
    for home, signum, child in children:
        stdout, stderr = child.communicate(timeout=30)
        assert (child.returncode, stdout) == (128 + signum, ""), home.name
        word = "terminated" if signum == signal.SIGTERM else "interrupted"
        assert stderr == f"Error: {word}; nothing partial was written\n", home.name
        assert list(home.iterdir()) == [], home.name
    assert time.monotonic() - started < 10


def test_bounded_in_time_and_memory(tmp_path):
    """The cases that once hung or swapped, each in a child process limited to 3 GiB of
    address space and 20 s, and the stops whose exception is lost, run side by side."""
    stubborn = _start_stubborn(tmp_path / "stops")
    (tmp_path / "gpt3.yaml").write_text((ROOT / "configs/gpt3-mlp.yaml").read_text())
    environment = dict(os.environ, JACCHAIN_CACHE_DIR=str(tmp_path / "cache"), COLUMNS="100")
    children = {
        name: subprocess.Popen(
            [sys.executable, "-m", "jacchain", *args],
            cwd=tmp_path,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=_limited,
        )
        for name, args in BOUNDED.items()
    }
    # SIGTERM in the middle of a long run that writes -o: exit 143, one line, no file left.
    (tmp_path / "terminated").mkdir()
    endless = ["train", "20,16,3", "--steps", "100000000", "--format", "json", "-o", "out.json"]
    terminated = subprocess.Popen(
        [sys.executable, "-m", "jacchain", *endless], cwd=tmp_path / "terminated", stderr=subprocess.PIPE, text=True
    )
    _wait_until_handling_signals(terminated)
    time.sleep(0.3)  # training
    terminated.send_signal(signal.SIGTERM)
    _, stderr = terminated.communicate(timeout=30)
    assert terminated.returncode == 143
    assert stderr == "Error: terminated; nothing partial was written\n"
    assert list((tmp_path / "terminated").iterdir()) == []
    for name, child in children.items():
        try:
            _, stderr = child.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            child.kill()
            pytest.fail(f"{name} ran past 20 s")
        assert "Traceback" not in stderr and child.returncode in (0, 2), (name, stderr[-500:])
        if child.returncode == 2:
            assert stderr.startswith("Error: ") and stderr.count("\n") == 1, (name, stderr)
    _stopped_for_certain(*stubborn)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["gpt3.yaml", "stops", "terminated"]


def _wait_until_handling_signals(process, timeout=30.0):
    """Until the child's SIGTERM handler is in place: /proc says which signals a process
    catches (SigCgt); elsewhere, a generous sleep."""
    status = Path(f"/proc/{process.pid}/status")
    if not status.exists():
        time.sleep(3)
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        caught = next(line for line in status.read_text().splitlines() if line.startswith("SigCgt:"))
        if int(caught.split()[1], 16) >> (signal.SIGTERM - 1) & 1:
            return
        time.sleep(0.02)
    pytest.fail("the child never came to handle SIGTERM")


def test_abandoned_outputs_leave_no_temporary_and_publish_nothing(tmp_path, monkeypatch):
    from jacchain import io as jio

    monkeypatch.setattr(jio, "_abandoned", False)
    target = tmp_path / "out.txt"
    target.write_text("old")

    def write(path):
        Path(path).write_text("new, half")
        jio.abandon_outputs()  # the stop comes while the temporary is being written
        assert not Path(path).exists()
        Path(path).write_text("new, whole")  # the writer does not know yet

    with pytest.raises(jio.JacchainError, match="not written: the run was stopped"):
        jio.write_with(target, write)
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"] and target.read_text() == "old"
    assert not jio._pending


PROPERTY = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@PROPERTY
@given(content=st.binary(max_size=300), where=st.sampled_from(["config", "npz", "csv", "baseline", "cache"]))
def test_arbitrary_bytes_end_in_a_result_or_one_error_line(tmp_path_factory, content, where):
    folder = tmp_path_factory.mktemp("bytes")
    args = {
        "config": ["explain", "c.yaml"],
        "npz": [*TRAIN, "--dataset", "d.npz"],
        "csv": [*TRAIN, "--dataset", "d.csv"],
        "baseline": ["check", "4,3", "--baseline", "b.json"],
        "cache": ["analyze", "4,3"],
    }[where]
    target = {"config": "c.yaml", "npz": "d.npz", "csv": "d.csv", "baseline": "b.json"}.get(
        where, "cache/calibration.json"
    )
    (folder / target).parent.mkdir(exist_ok=True)
    (folder / target).write_bytes(content)
    before = _digests(folder)
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        result = CliRunner().invoke(cli, args, env={"JACCHAIN_CACHE_DIR": str(folder / "cache")})
    finally:
        os.chdir(cwd)
    assert "Traceback" not in result.output and result.exit_code in (0, 1, 2), result.output[-300:]
    if result.exit_code == 2:
        assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1
        assert not result.stderr.startswith("Error: unexpected")
    after = _digests(folder)
    if where != "cache":
        assert after == before
    shutil.rmtree(folder)
