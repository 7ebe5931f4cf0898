"""The output rules (io.py) in this process, each refusal word for word. The command-line
tests (test_outputs.py) and the stops (test_hostile.py) exercise the same rules end to end;
these reach what they cannot: a failing OS call, the temporary's name and folder, a mode the
tests' root user would otherwise write through."""

import errno
import os
import stat
from pathlib import Path

import pytest

from jacchain import io
from jacchain.errors import JacchainError


@pytest.fixture(autouse=True)
def _not_abandoned(monkeypatch):
    monkeypatch.setattr(io, "_abandoned", False)
    monkeypatch.setattr(io, "_pending", set())


def refusal(call, *args):
    with pytest.raises(JacchainError) as refused:
        call(*args)
    return str(refused.value)


def _loop(folder):
    loop = folder / "loop"
    loop.symlink_to(loop)
    return loop


def test_read_text_reads_utf8_and_says_why_it_cannot_read(tmp_path):
    text = tmp_path / "c.yaml"
    text.write_bytes("name: réseau\n".encode())
    assert io.read_text(str(text), "missing") == "name: réseau\n"
    assert refusal(io.read_text, str(tmp_path / "none.yaml"), "no such config") == "no such config"
    assert refusal(io.read_text, str(tmp_path), "missing") == f"{tmp_path}: is a folder, not a file"
    assert refusal(io.read_text, str(tmp_path), "missing", "give a file") == "give a file"
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("name: r\xe9seau\n".encode("latin-1"))
    assert refusal(io.read_text, str(latin), "missing") == (
        f"{latin}: cannot read: 'utf-8' codec can't decode byte 0xe9 in position 7: invalid continuation byte"
    )
    # an OSError says its strerror, not its repr
    loop = _loop(tmp_path)
    assert refusal(io.read_text, str(loop), "missing") == f"{loop}: cannot read: {os.strerror(errno.ELOOP)}"


@pytest.mark.parametrize("mode", [0o444, 0o400, 0o555, 0o500, 0o000])
def test_a_file_without_a_write_bit_is_refused_even_where_access_allows_it(tmp_path, mode):
    # root may write any file (os.access says yes): the mode bits decide, whatever else is set
    target = tmp_path / "out.json"
    target.write_text("keep")
    target.chmod(mode)
    assert refusal(io.check_writable, str(target)) == (
        f"cannot write {target}: it is read-only; change its mode or choose another file"
    )
    target.chmod(mode | 0o200)
    io.check_writable(str(target))


def test_check_writable_refuses_folders_missing_folders_and_a_folder_it_cannot_write(tmp_path, monkeypatch):
    io.check_writable("-")
    io.check_writable(str(tmp_path / "new.json"))
    assert refusal(io.check_writable, str(tmp_path)) == f"cannot write {tmp_path}: it is a folder"
    missing = tmp_path / "no" / "out.json"
    assert refusal(io.check_writable, str(missing)) == f"cannot write {missing}: folder {missing.parent} does not exist"
    asked = []

    def access(path, mode):  # as a user without write and search permission on the folder
        asked.append((Path(path), mode))
        return not mode & os.W_OK

    monkeypatch.setattr(io.os, "access", access)
    new = tmp_path / "new.json"
    assert refusal(io.check_writable, str(new)) == f"cannot write {new}: folder {tmp_path} is not writable"
    assert asked == [(tmp_path, os.W_OK | os.X_OK)]


def test_refuse_overlap_names_the_option_and_the_input(tmp_path):
    config, other = tmp_path / "c.yaml", tmp_path / "o.json"
    config.write_text("x")
    alias = tmp_path / "alias.yaml"
    alias.symlink_to(config)
    io.refuse_overlap({"-o": str(other), "--plot": None, "--csv": "-"}, [str(config), "-", "4,3"])
    assert refusal(io.refuse_overlap, {"--plot": None, "-o": str(alias)}, ["4,3", str(config)]) == (
        f"-o {alias} is one of this command's inputs ({config}); choose another file"
    )
    assert refusal(io.refuse_overlap, {"--plot": str(other), "-o": str(other)}, []) == (
        f"-o {other} is also the --plot output; choose two different files"
    )
    # stdout twice is no overlap
    io.refuse_overlap({"--plot": "-", "-o": "-"}, [])


def test_is_file_is_false_for_names_the_os_refuses(tmp_path):
    (tmp_path / "f").write_text("")
    assert io.is_file(str(tmp_path / "f")) and not io.is_file(str(tmp_path))
    assert not io.is_file("a\0b") and not io.is_file("x" * 5000)


def test_a_new_file_gets_every_read_and_write_bit_the_umask_leaves(tmp_path):
    previous = os.umask(0)
    try:
        io.write_atomic(tmp_path / "open.txt", "x")
        os.umask(0o022)
        io.write_atomic(tmp_path / "shared.txt", "x")
        assert os.umask(0o022) == 0o022  # the umask itself is left as it was
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "open.txt").stat().st_mode) == 0o666
    assert stat.S_IMODE((tmp_path / "shared.txt").stat().st_mode) == 0o644


def test_the_temporary_is_a_hidden_sibling_of_the_target(tmp_path):
    target = tmp_path / "out.json"
    seen = []

    def write(path):
        seen.append(Path(path))
        assert Path(path) in {Path(p) for p in io._pending}
        Path(path).write_text("new")

    io.write_with(target, write)
    (temporary,) = seen
    assert temporary.parent == tmp_path and temporary.name.startswith(".out.json.") and temporary.suffix == ".tmp"
    io.write_with(target, write, suffix=".npz")
    assert seen[1].suffix == ".npz" and seen[1].name.startswith(".out.json.")
    assert target.read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]
    assert not io._pending


def test_a_failing_write_says_why_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")

    def full(path):
        Path(path).write_text("half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    assert refusal(io.write_with, target, full) == f"cannot write {target}: {os.strerror(errno.ENOSPC)}"

    def vanishing(path):  # the temporary already gone when the error comes
        Path(path).unlink()
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    assert refusal(io.write_with, target, vanishing) == f"cannot write {target}: {os.strerror(errno.EIO)}"

    def interrupted(path):
        Path(path).write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        io.write_with(target, interrupted)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"] and target.read_text() == "old"
    assert not io._pending

    def stopped(path):  # a stop's handler removes the temporaries (abandon_outputs), then the stop is raised
        Path(path).unlink()
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # the stop itself, not a FileNotFoundError in its place
        io.write_with(target, stopped)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"] and not io._pending


def test_the_target_or_its_temporary_unreachable_is_one_line(tmp_path, monkeypatch):
    loop = _loop(tmp_path)
    assert refusal(io.write_atomic, loop, "x") == f"cannot write {loop}: {os.strerror(errno.ELOOP)}"

    def mkstemp(**kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(io.tempfile, "mkstemp", mkstemp)
    target = tmp_path / "out.json"
    assert refusal(io.write_atomic, target, "x") == f"cannot write {target}: {os.strerror(errno.EACCES)}"
    assert not target.exists()


def test_a_stopped_run_publishes_nothing_and_names_what_it_did_not_write(tmp_path):
    target = tmp_path / "out.json"
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    io.abandon_outputs()
    assert refusal(io.write_atomic, target, "x") == f"{target} not written: the run was stopped"
    assert refusal(io.write_atomic, fifo, "x") == f"{fifo} not written: the run was stopped"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]


def test_abandoning_removes_the_temporaries_even_where_one_has_gone(tmp_path):
    here, gone = tmp_path / ".a.tmp", tmp_path / ".b.tmp"
    here.write_text("")
    io._pending.update({str(here), str(gone)})
    io.abandon_outputs()
    assert not here.exists() and io._abandoned


def test_writing_through_a_device_says_why_it_failed(tmp_path, monkeypatch):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)

    def broken(path):
        assert path == str(fifo)
        raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))

    assert refusal(io.write_with, fifo, broken) == f"cannot write {fifo}: {os.strerror(errno.EPIPE)}"
    assert fifo.is_fifo()
