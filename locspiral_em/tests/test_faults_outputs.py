"""Faults while writing outputs (issue 13, part 1): the output set commits together or not at
all, one run per prefix, outputs never overwrite inputs, every path is checked before any
work, a full disk or a broken stdout never ends in a traceback.

Every case runs the command line on a 24^3 phantom (1.5 Å, LocOccupancy: two bands, about
0.1 s of computing) with ``--json`` and ``--chimerax``, so a set is five files: the
occupancy map, the mask, the scene, the scene's display copy and the JSON. Faults are
injected with the test-only hook ``LOCSPIRAL_TEST_FAULT=<step>:<action>``
(:mod:`locspiral_em.outputs`); kill -9 runs in a subprocess (about 1 s each), the rest
in-process. "Old set" = the five files of an earlier run with ``--quantile 0.3``; "new set"
= those of an uninterrupted run with the default 0.25 (different bytes: checked). After a
fault the promise is exact: the folder holds byte for byte the old set or the new set, and
nothing else (no temporary, journal or lock) once the next run on the prefix has started.
Files are compared by sha256 of their bytes, an MRC file's time-stamped text labels excepted
(the old set is copied, so it is also identical in its labels).
"""
import errno
import hashlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager

import numpy as np
from locspiral_em.tests.pytest_shim import pytest  # pytest, or a stand-in in a stock Scipion

from locspiral_em import cli, core, outputs
from locspiral_em import run as runlayer
from locspiral_em.outputs import FAULT_ENV

N, VOXEL = 24, 1.5
SET = ("x_occupancy.mrc", "x_mask.mrc", "x_occupancy.cxc", "x_occupancy_display.mrc",
       "x.json")
# Write steps in the order they happen: staging (maps, then the scene's display copy and
# the scene, then the JSON), the commit point, the renames (JSON last), the end.
STAGE_STEPS = ("stage:occupancy", "stage:mask", "stage:occupancy_display", "stage:scene",
               "stage:json")
COMMIT_STEPS = ("journal", "commit:occupancy", "commit:mask", "commit:scene",
                "commit:occupancy_display", "commit:json", "done")
# Between staging and the commit point: the old files get their hard-linked backups (the
# first and the last of them; a kill there once left the backups behind).
BACKUP_STEPS = ("backup:occupancy", "backup:json")


@pytest.fixture(scope="module")
def d(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inputs")
    ph = core.make_phantom((N,) * 3, VOXEL, noise=0.5, seed=1)
    core.write_map(folder / "map.mrc", core.average_half_maps(ph.half1, ph.half2), VOXEL)
    core.write_map(folder / "mask.mrc", ph.mask.astype(np.float32), VOXEL)
    other = core.make_phantom((N,) * 3, VOXEL, noise=0.5, seed=2)  # the old set's map
    core.write_map(folder / "other.mrc", 1.5 * core.average_half_maps(other.half1, other.half2),
                   VOXEL)
    grown = np.pad(ph.mask, 1)[:-2, 1:-1, 1:-1] | ph.mask  # the old set's mask: one voxel more
    core.write_map(folder / "other_mask.mrc", grown.astype(np.float32), VOXEL)
    return folder


def argv(d, *extra, prefix="x", json="x.json"):
    args = ["lococcupancy", str(d / "map.mrc"), "--mask", str(d / "mask.mrc"),
            "--threads", "1", "-q", "-o", prefix, "--chimerax"]
    if json:
        args += ["--json", json]
    return args + list(extra)


OLD = ["--quantile", "0.3"]  # with the map other.mrc and the mask other_mask.mrc


@contextmanager
def cwd(folder):
    here = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(here)


MRC_LABELS = slice(224, 1024)  # mrcfile stamps the writing time (to the second) here


def digest(path):
    """sha256 of the file's bytes; of an MRC file's bytes but its text labels (two runs of
    the same command seconds apart differ only there)."""
    with open(path, "rb") as handle:
        data = bytearray(handle.read())
    if path.endswith(".mrc") and len(data) > MRC_LABELS.stop:
        data[MRC_LABELS] = bytes(MRC_LABELS.stop - MRC_LABELS.start)
    return hashlib.sha256(bytes(data)).hexdigest()


def snapshot(folder):
    """{relative path: digest} of every file and folder below ``folder``, hidden included."""
    files = {}
    for root, dirs, names in os.walk(folder):
        for name in dirs:
            files[os.path.relpath(os.path.join(root, name), folder) + "/"] = "dir"
        for name in names:
            path = os.path.join(root, name)
            files[os.path.relpath(path, folder)] = digest(path)
    return files


def make_set(d, folder, extra, map_name="map.mrc"):
    args = argv(d, *extra)
    args[1] = str(d / map_name)
    if map_name != "map.mrc":
        args[args.index("--mask") + 1] = str(d / "other_mask.mrc")
    with cwd(folder):
        assert cli.main(args) == 0
    return snapshot(folder)


@pytest.fixture(scope="module")
def sets(d, tmp_path_factory):
    """(folder of the old set, its snapshot, snapshot of the new set)."""
    old_folder = tmp_path_factory.mktemp("old")
    old = make_set(d, old_folder, OLD, "other.mrc")
    new = make_set(d, tmp_path_factory.mktemp("new"), [])
    assert sorted(old) == sorted(new) == sorted(SET)
    # The two sets differ in every file: a fault that mixed them would show.
    assert [name for name in SET if old[name] == new[name]] == []
    return old_folder, old, new


def put_old(sets, folder):
    for name in SET:
        shutil.copy2(sets[0] / name, folder / name)
    assert snapshot(folder) == sets[1]


def assert_old(folder, sets):
    """The folder holds the old set, byte for byte (labels too), and nothing else."""
    assert snapshot(folder) == sets[1]
    for name in SET:
        assert (folder / name).read_bytes() == (sets[0] / name).read_bytes(), name


def main(args, capsys):
    rc = cli.main(args)
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def subprocess_run(args, folder, fault=None, **kwargs):
    env = dict(os.environ)
    env.pop(FAULT_ENV, None)
    if fault:
        env[FAULT_ENV] = fault
    return subprocess.run([sys.executable, "-m", "locspiral_em.cli", *args], cwd=folder,
                          env=env, capture_output=True, text=True, timeout=120, **kwargs)


def one_error_line(err, *fragments):
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert "Traceback" not in err
    return lines[0]


# ======================================================================================
# kill -9 at each write step: the next run finds the old set or the complete new set
# ======================================================================================

@pytest.mark.parametrize("step", STAGE_STEPS + BACKUP_STEPS + COMMIT_STEPS)
def test_kill_at_each_write_step_then_the_next_run_leaves_one_whole_set(
        step, d, sets, tmp_path, monkeypatch, capsys):
    before_commit = step not in COMMIT_STEPS
    put_old(sets, tmp_path)
    killed = subprocess_run(argv(d, "--force"), tmp_path, f"{step}:kill")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    after_kill = snapshot(tmp_path)
    # Even before any recovery no file of the set is lost or half written: each holds the
    # old bytes or the new bytes (the renames are atomic).
    for name in SET:
        assert after_kill[name] in (sets[1][name], sets[2][name]), name
    if before_commit:  # before the commit point the old set is untouched
        assert {k: after_kill[k] for k in SET} == sets[1]
    assert any(".locspiral-" in name for name in after_kill)  # journal, temporaries

    # The next run on the prefix (here one that is then refused: no --force) first
    # finishes (after the commit point) or undoes (before it) the interrupted set.
    monkeypatch.chdir(tmp_path)
    rc, out, err = main(argv(d), capsys)
    assert rc == 2 and "exists; choose another --output prefix or add --force" in err
    if before_commit:
        assert_old(tmp_path, sets)
    else:
        assert snapshot(tmp_path) == sets[2]  # the whole new set, nothing else
    assert ("removed the temporary files" if before_commit else
            "finished writing the outputs") in err


def test_kill_while_computing_leaves_nothing_and_does_not_block_the_next_run(
        d, sets, tmp_path, monkeypatch, capsys):
    killed = subprocess_run(argv(d), tmp_path, "start:kill")
    assert killed.returncode == -signal.SIGKILL
    # Nothing written; the dead run's lock file is left, but its lock died with it.
    assert list(snapshot(tmp_path)) == [".x.locspiral-lock"]
    monkeypatch.chdir(tmp_path)
    rc, out, err = main(argv(d), capsys)
    assert rc == 0, err
    assert snapshot(tmp_path) == sets[2]


def test_kill_while_rolling_back_a_failed_commit_restores_the_old_set(
        d, sets, tmp_path, monkeypatch, capsys):
    """A rename failing after the commit point makes the run put the old set back; killed
    half way through that, the next run finishes restoring it."""
    put_old(sets, tmp_path)
    killed = subprocess_run(argv(d, "--force"), tmp_path,
                            "commit:mask:EIO,rollback:occupancy:kill")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    monkeypatch.chdir(tmp_path)
    rc, out, err = main(argv(d), capsys)
    assert rc == 2 and "restored the earlier outputs" in err
    assert_old(tmp_path, sets)


# ======================================================================================
# Ctrl-C at each step: the truth on stderr, and nothing or everything written
# ======================================================================================

@pytest.mark.parametrize("step", ("start",) + STAGE_STEPS + BACKUP_STEPS + COMMIT_STEPS)
def test_ctrl_c_at_each_step_says_what_was_written(step, d, sets, tmp_path, monkeypatch,
                                                   capsys):
    put_old(sets, tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(FAULT_ENV, f"{step}:sigint")
    rc, out, err = main(argv(d, "--force"), capsys)
    assert rc == 130
    last = err.strip().splitlines()[-1]
    if step in BACKUP_STEPS + COMMIT_STEPS:
        # Ctrl-C is held from the backups to the last rename: the set is completed, then it
        # stops.
        assert last == "interrupted after the outputs were complete: all 5 files were written"
        assert snapshot(tmp_path) == sets[2]
    else:
        assert last == "interrupted; nothing was written (existing outputs are unchanged)"
        assert_old(tmp_path, sets)  # no temporary, journal or lock either


# ======================================================================================
# Full disk and other write errors
# ======================================================================================

@pytest.mark.parametrize("step", STAGE_STEPS)
def test_full_disk_at_each_staged_file_leaves_the_old_set(step, d, sets, tmp_path,
                                                          monkeypatch, capsys):
    put_old(sets, tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(FAULT_ENV, f"{step}:ENOSPC")
    rc, out, err = main(argv(d, "--force"), capsys)
    assert rc == 1 and out == ""
    one_error_line(err, "No space left on device",
                   "nothing was written (existing outputs are unchanged)")
    assert_old(tmp_path, sets)


@pytest.mark.parametrize("step", ("stage:noise_curve", "stage:json"))
def test_full_disk_under_force_keeps_the_old_noise_curve_with_the_old_maps(
        step, d, tmp_path, monkeypatch, capsys):
    """The issue's case: LocBFactor's noise curve (text) is part of the set, so a full disk
    never leaves the new run's curve beside the old run's maps."""
    monkeypatch.chdir(tmp_path)
    base = ["locbfactor", str(d / "map.mrc"), "--mask", str(d / "mask.mrc"), "--threads", "1",
            "-q", "-o", "x", "--json", "x.json"]
    assert main(base + ["--max-res", "4"], capsys)[0] == 0
    old = {name: (tmp_path / name).read_bytes() for name in os.listdir(tmp_path)}
    assert "x_noise_curve.txt" in old and len(old) == 5
    monkeypatch.setenv(FAULT_ENV, f"{step}:ENOSPC")
    rc, out, err = main(base + ["--max-res", "5", "--force"], capsys)
    assert rc == 1
    one_error_line(err, "No space left on device", "nothing was written")
    assert {name: (tmp_path / name).read_bytes() for name in os.listdir(tmp_path)} == old


@pytest.mark.parametrize("code", ("EDQUOT", "EROFS", "EIO", "EACCES"))
def test_any_write_error_is_one_line_and_leaves_nothing(code, d, tmp_path, monkeypatch,
                                                        capsys):
    """On a fresh folder: the prefix's folders created for the run go too."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(FAULT_ENV, f"stage:scene:{code}")
    rc, out, err = main(argv(d, prefix="a/b/x", json="a/b/x.json"), capsys)
    assert rc == 1
    one_error_line(err, "cannot write a/b/x_occupancy.cxc", os.strerror(getattr(errno, code)))
    assert os.listdir(tmp_path) == []


def test_a_rename_failing_after_the_commit_point_restores_the_old_set(
        d, sets, tmp_path, monkeypatch, capsys):
    put_old(sets, tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(FAULT_ENV, "commit:scene:EIO")  # maps already renamed into place
    rc, out, err = main(argv(d, "--force"), capsys)
    assert rc == 1
    one_error_line(err, "Input/output error", "nothing was written")
    assert_old(tmp_path, sets)


def test_a_real_write_limit_is_one_line_and_keeps_the_old_set(d, sets, tmp_path):
    """No hook: the kernel refuses writes beyond RLIMIT_FSIZE (EFBIG, as a full disk
    refuses them with ENOSPC) once the first 56 kB map is staged."""
    resource = pytest.importorskip("resource")
    put_old(sets, tmp_path)

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))

    result = subprocess_run(argv(d, "--force"), tmp_path, preexec_fn=limit)
    assert result.returncode == 1, result.stderr
    one_error_line(result.stderr, "cannot write x_occupancy.mrc: File too large",
                   "nothing was written")
    assert_old(tmp_path, sets)


# ======================================================================================
# One run per prefix
# ======================================================================================

def test_a_run_holding_the_prefix_blocks_a_second_one(d, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with outputs.PrefixLock("x"):
        before = snapshot(tmp_path)
        rc, out, err = main(argv(d), capsys)
        assert rc == 2
        one_error_line(err, f"another locspiral-em run (pid {os.getpid()}) is writing "
                            "outputs with the prefix x; wait for it to finish")
        assert snapshot(tmp_path) == before  # only the lock file
    assert os.listdir(tmp_path) == []  # released: its file is removed


def test_two_runs_on_one_prefix_the_second_is_refused_with_or_without_force(
        d, sets, tmp_path, monkeypatch, capsys):
    first = subprocess.Popen(
        [sys.executable, "-m", "locspiral_em.cli", *argv(d)], cwd=tmp_path,
        env=dict(os.environ, **{FAULT_ENV: "start:sleep3"}), stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    lock = tmp_path / ".x.locspiral-lock"
    deadline = time.time() + 60
    while not (lock.exists() and lock.read_text().strip() == str(first.pid)):
        assert time.time() < deadline and first.poll() is None
        time.sleep(0.05)
    monkeypatch.chdir(tmp_path)
    for extra in ([], ["--force"]):
        rc, out, err = main(argv(d, *extra), capsys)
        assert rc == 2 and f"another locspiral-em run (pid {first.pid})" in err
    assert first.wait(timeout=120) == 0
    assert snapshot(tmp_path) == sets[2]  # only the first run's set, whole


def test_without_flock_the_lock_is_a_pid_file(tmp_path, monkeypatch):
    """Mounts without locks (or no fcntl): an exclusively created pid file; a live pid
    blocks, a dead one does not."""
    monkeypatch.setattr(outputs, "fcntl", None)
    first = outputs.PrefixLock(tmp_path / "x").acquire()
    with pytest.raises(core.InputError, match=f"another locspiral-em run \\(pid {os.getpid()}"):
        outputs.PrefixLock(tmp_path / "x").acquire()
    first.release()
    assert os.listdir(tmp_path) == []
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    (tmp_path / ".x.locspiral-lock").write_text(dead + "\n")
    with outputs.PrefixLock(tmp_path / "x"):
        assert (tmp_path / ".x.locspiral-lock").read_text() == f"{os.getpid()}\n"
    assert os.listdir(tmp_path) == []


def test_protocol_runs_lock_their_own_output_folder(d, tmp_path, monkeypatch):
    """Scipion protocols name every output (``paths``): the lock is beside them, in the
    protocol's folder, not on the input map's name in the project folder (two protocols on
    one input run side by side)."""
    monkeypatch.chdir(tmp_path)
    extra = tmp_path / "Runs" / "000123_Prot" / "extra"
    extra.mkdir(parents=True)
    paths = {"occupancy": str(extra / "occupancy.mrc"), "mask": str(extra / "mask.mrc")}
    spec = dict(map=str(d / "map.mrc"), mask=str(d / "mask.mrc"), workers=1, paths=paths,
                json_path=str(extra / "summary.json"), force=True)
    with outputs.PrefixLock(extra / "locspiral_lococcupancy"):
        with pytest.raises(core.InputError, match="another locspiral-em run"):
            runlayer.run(runlayer.RunSpec("lococcupancy", **spec))
    with outputs.PrefixLock(tmp_path / "map"):  # the input's name here: no conflict
        runlayer.run(runlayer.RunSpec("lococcupancy", **spec))
    assert sorted(os.listdir(extra)) == ["mask.mrc", "occupancy.mrc", "summary.json"]


def test_a_stale_lock_of_a_dead_process_does_not_block(d, sets, tmp_path, monkeypatch,
                                                       capsys):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    (tmp_path / ".x.locspiral-lock").write_text(dead + "\n")
    monkeypatch.chdir(tmp_path)
    rc, out, err = main(argv(d), capsys)
    assert rc == 0, err
    assert snapshot(tmp_path) == sets[2]


# ======================================================================================
# Outputs that are inputs, or each other: refused before any work, inputs untouched
# ======================================================================================

def refused(args, capsys, tmp_path, *fragments):
    before = snapshot(tmp_path)
    rc, out, err = main(args, capsys)
    assert rc == 2 and out == ""
    line = one_error_line(err, *fragments)
    assert snapshot(tmp_path) == before
    return line


def test_json_on_a_map_output_is_refused(d, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    refused(argv(d, json="x_mask.mrc"), capsys, tmp_path,
            "the json output x_mask.mrc is also the mask output (x_mask.mrc)")


@pytest.mark.parametrize("given", ("x_mask.mrc", "./x_mask.mrc", "sub/../x_mask.mrc"))
def test_the_users_mask_is_never_replaced_by_the_mask_output(given, d, tmp_path,
                                                             monkeypatch, capsys):
    shutil.copy2(d / "mask.mrc", tmp_path / "x_mask.mrc")
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path)
    args = argv(d, "--force")
    args[args.index("--mask") + 1] = given
    refused(args, capsys, tmp_path, "the mask output x_mask.mrc is the input mask",
            "would destroy the input")


def test_an_output_that_is_a_symlink_or_hard_link_to_an_input_is_refused(
        d, tmp_path, monkeypatch, capsys):
    shutil.copy2(d / "mask.mrc", tmp_path / "mine.mrc")
    os.symlink(tmp_path / "mine.mrc", tmp_path / "x_mask.mrc")
    os.link(tmp_path / "mine.mrc", tmp_path / "x_occupancy.mrc")
    monkeypatch.chdir(tmp_path)
    args = argv(d, "--force")
    args[args.index("--mask") + 1] = "mine.mrc"
    refused(args, capsys, tmp_path, "the occupancy output x_occupancy.mrc is the input mask")
    os.remove(tmp_path / "x_occupancy.mrc")
    refused(args, capsys, tmp_path, "the mask output x_mask.mrc is the input mask")


def test_a_prefix_that_names_the_input_map_is_refused(d, tmp_path, monkeypatch, capsys):
    shutil.copy2(d / "map.mrc", tmp_path / "x_occupancy.mrc")
    monkeypatch.chdir(tmp_path)
    args = argv(d, "--force")
    args[1] = "x_occupancy.mrc"
    refused(args, capsys, tmp_path, "the occupancy output x_occupancy.mrc is the input map")


def test_the_scene_and_the_json_on_one_path_are_refused(d, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = runlayer.RunSpec("lococcupancy", map=str(d / "map.mrc"), mask=str(d / "mask.mrc"),
                            workers=1, prefix="x", chimerax=True, scene_path="s.cxc",
                            json_path="./s.cxc")
    with pytest.raises(core.InputError, match=r"the json output ./s.cxc is also the scene "
                                              r"output \(s.cxc\)"):
        runlayer.run(spec)
    assert os.listdir(tmp_path) == []


# ======================================================================================
# Paths that cannot be written: refused before computing (no progress line), exit 2
# ======================================================================================

def refused_before_computing(args, capsys, tmp_path, *fragments):
    args = [a for a in args if a != "-q"]  # progress on: a computed band would print
    return refused(args, capsys, tmp_path, *fragments)


def test_output_prefix_under_a_regular_file(d, tmp_path, monkeypatch, capsys):
    (tmp_path / "afile").write_text("x")
    monkeypatch.chdir(tmp_path)
    refused_before_computing(argv(d, prefix="afile/x", json=None), capsys, tmp_path,
                             "cannot write the occupancy output afile/x_occupancy.mrc: ",
                             "afile is a file, not a folder")


def test_json_path_under_a_regular_file(d, tmp_path, monkeypatch, capsys):
    (tmp_path / "afile").write_text("x")
    monkeypatch.chdir(tmp_path)
    refused_before_computing(argv(d, json="afile/deeper/x.json"), capsys, tmp_path,
                             "cannot write the json output afile/deeper/x.json",
                             "is a file, not a folder")


def test_json_path_that_is_a_folder(d, tmp_path, monkeypatch, capsys):
    (tmp_path / "results").mkdir()
    monkeypatch.chdir(tmp_path)
    refused_before_computing(argv(d, json="results"), capsys, tmp_path,
                             "cannot write the json output results: it is a folder")


def test_read_only_folder(d, tmp_path, monkeypatch, capsys):
    """A read-only mount answers the probe file with EROFS (injected: mounting needs
    privileges)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(FAULT_ENV, "probe:EROFS")
    refused_before_computing(argv(d), capsys, tmp_path, "the folder",
                             "is not writable (Read-only file system)")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root writes into a read-only-permission folder")
def test_folder_without_write_permission(d, tmp_path, monkeypatch, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        monkeypatch.chdir(tmp_path)
        refused_before_computing(argv(d, prefix="locked/x", json=None), capsys, tmp_path,
                                 "is not writable (Permission denied)")
    finally:
        locked.chmod(0o755)


def test_missing_output_folders_are_created_for_the_set(d, sets, tmp_path, monkeypatch,
                                                        capsys):
    monkeypatch.chdir(tmp_path)
    rc, out, err = main(argv(d, prefix="a/b/x", json="a/b/x.json"), capsys)
    assert rc == 0, err
    assert sorted(snapshot(tmp_path / "a" / "b")) == sorted(SET)


# ======================================================================================
# stdout or stderr closed or broken: the run goes on, the outputs are written
# ======================================================================================

@pytest.mark.parametrize("how", ("stdout closed", "stdout to a reader gone", "stderr closed"))
def test_a_closed_or_broken_stream_is_not_fatal(how, d, sets, tmp_path):
    quiet = how != "stderr closed"  # with stderr closed, progress on: it is written to
    args = [sys.executable, "-m", "locspiral_em.cli",
            *[a for a in argv(d) if quiet or a != "-q"]]
    env = {k: v for k, v in os.environ.items() if k != FAULT_ENV}
    if how == "stdout to a reader gone":  # locspiral-em ... | head -0
        proc = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        proc.stdout.close()
        err = proc.stderr.read().decode()
        rc = proc.wait(timeout=120)
    else:  # locspiral-em ... >&-   /   2>&- (progress on, so stderr is written to)
        shell = " ".join(f"'{a}'" for a in args)
        command = f"exec {shell} " + (">&-" if how == "stdout closed" else "2>&- >/dev/null")
        result = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=120)
        rc, err = result.returncode, result.stderr
    assert rc == 0, err
    assert "Traceback" not in err and "Exception ignored" not in err
    assert snapshot(tmp_path) == sets[2]


# ======================================================================================
# The hook itself, and the run layer's use of the set
# ======================================================================================

def test_the_fault_hook_is_inert_unless_it_names_the_step(monkeypatch):
    monkeypatch.setenv(FAULT_ENV, "stage:mask:ENOSPC")
    outputs.fault("stage:occupancy")  # another step: nothing
    with pytest.raises(OSError) as info:
        outputs.fault("stage:mask", "m.mrc")
    assert info.value.errno == errno.ENOSPC and info.value.filename == "m.mrc"
    monkeypatch.setenv(FAULT_ENV, "stage:mask:NOSUCHTHING")
    with pytest.raises(ValueError, match="unknown action"):
        outputs.fault("stage:mask")


def test_a_file_written_alone_cleans_up_after_an_abandoned_write_of_it(tmp_path):
    """Scenes written by the viewers and the fsc command's files go through
    ``write_alone``: an earlier write of the same file abandoned half way (as a killed
    process leaves it: journal and temporary) is cleaned up by the next write."""
    target = tmp_path / "scene.cxc"
    target.write_text("old")
    abandoned = outputs.OutputSet(str(target), {"text": target}).begin()
    abandoned.write_text(target, lambda h: h.write("half"))  # never committed nor closed
    assert len(os.listdir(tmp_path)) == 3  # old file, journal, temporary
    outputs.write_text_file(target, "new")
    assert os.listdir(tmp_path) == ["scene.cxc"] and target.read_text() == "new"


def test_a_set_left_without_commit_leaves_nothing(tmp_path):
    with outputs.OutputSet(tmp_path / "p", {"a": tmp_path / "a.txt"}) as staged:
        staged.write_text(tmp_path / "a.txt", lambda h: h.write("new"))
        staged.write_text(tmp_path / "b.txt", lambda h: h.write("not announced"))
        assert (tmp_path / "a.txt").exists() is False
    assert os.listdir(tmp_path) == []


# ======================================================================================
# `locspiral-em demo` and `fsc`: their files are one output set too
# ======================================================================================

DEMO = ["--size", "32", "-q", "--threads", "1"]  # 32^3: the whole demo in about 2 s


def demo_argv(folder, *extra):
    return ["demo", "-o", str(folder), *DEMO, *extra]


@pytest.fixture(scope="module")
def demo_set(tmp_path_factory):
    """Snapshot of an uninterrupted demo folder (maps, scenes, display copies, summary)."""
    folder = tmp_path_factory.mktemp("demo") / "demo"
    assert cli.main(demo_argv(folder)) == 0
    files = snapshot(folder)
    assert "summary.txt" in files and not any(n.startswith(".") for n in files)
    return files


def test_demo_ctrl_c_before_the_set_is_complete_writes_no_file(tmp_path, monkeypatch,
                                                               capsys):
    monkeypatch.setenv(FAULT_ENV, "stage:summary:sigint")  # the set's last staged file
    rc, out, err = main(demo_argv(tmp_path / "demo"), capsys)
    assert rc == 130
    assert err.strip().splitlines()[-1] == ("interrupted; nothing was written (existing "
                                            "outputs are unchanged)")
    assert os.listdir(tmp_path) == []  # not even the folder the demo created


def test_demo_ctrl_c_while_renaming_completes_the_set_and_says_so(demo_set, tmp_path,
                                                                  monkeypatch, capsys):
    monkeypatch.setenv(FAULT_ENV, "commit:map:sigint")
    rc, out, err = main(demo_argv(tmp_path / "demo"), capsys)
    assert rc == 130
    assert err.strip().splitlines()[-1] == ("interrupted after the outputs were complete: "
                                            f"all {len(demo_set)} files were written")
    assert snapshot(tmp_path / "demo") == demo_set


def test_demo_full_disk_is_one_line_and_leaves_the_old_folder(demo_set, tmp_path,
                                                              monkeypatch, capsys):
    folder = tmp_path / "demo"
    assert cli.main(demo_argv(folder)) == 0
    capsys.readouterr()
    before = {name: (folder / name).read_bytes() for name in os.listdir(folder)}
    monkeypatch.setenv(FAULT_ENV, "stage:bfactor_display:ENOSPC")  # the scenes' copies
    rc, out, err = main(demo_argv(folder, "--force"), capsys)
    assert rc == 1 and out == ""
    one_error_line(err, "cannot write", "bfactor_display.mrc: No space left on device",
                   "nothing was written")
    assert {name: (folder / name).read_bytes() for name in os.listdir(folder)} == before


def test_demo_killed_while_staging_is_cleaned_up_by_the_next_demo(demo_set, tmp_path,
                                                                  monkeypatch, capsys):
    folder = tmp_path / "demo"
    killed = subprocess_run(demo_argv(folder), tmp_path, "stage:summary:kill")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    left = os.listdir(folder)
    assert left and all(name.startswith(".") for name in left)  # temporaries, journal, lock
    # The next demo finds an "empty" folder (only the dead run's leftovers), cleans up and
    # writes the whole set.
    rc, out, err = main(demo_argv(folder), capsys)
    assert rc == 0, err
    assert "removed the temporary files of an earlier run" in err
    assert snapshot(folder) == demo_set


def test_demo_refuses_a_folder_another_demo_is_writing(tmp_path, capsys):
    folder = tmp_path / "demo"
    with outputs.PrefixLock(folder / "locspiral_demo"):
        rc, out, err = main(demo_argv(folder, "--force"), capsys)
        assert rc == 2
        one_error_line(err, f"another locspiral-em run (pid {os.getpid()})")
        assert os.listdir(folder) == [".locspiral_demo.locspiral-lock"]
    assert not folder.exists()  # the lock made the folder; releasing it removed both


def fsc_argv(d, *extra):
    return ["fsc", str(d / "h1.mrc"), str(d / "h2.mrc"), "--threads", "1",
            "--curve", "c.txt", "--json", "c.json", *extra]


@pytest.fixture(scope="module")
def halves(d):
    ph = core.make_phantom((N,) * 3, VOXEL, noise=0.5, seed=1)
    core.write_map(d / "h1.mrc", ph.half1, VOXEL)
    core.write_map(d / "h2.mrc", ph.half2, VOXEL)
    return d


@pytest.mark.parametrize("step", ("stage:curve", "stage:json"))
def test_fsc_full_disk_writes_neither_the_curve_nor_the_json(step, halves, tmp_path,
                                                             monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(FAULT_ENV, f"{step}:ENOSPC")
    rc, out, err = main(fsc_argv(halves), capsys)
    assert rc == 1 and out == ""
    one_error_line(err, "No space left on device", "nothing was written")
    assert os.listdir(tmp_path) == []


def test_fsc_killed_after_the_commit_point_is_finished_by_the_next_fsc(halves, tmp_path,
                                                                       monkeypatch, capsys):
    killed = subprocess_run(fsc_argv(halves), tmp_path, "commit:curve:kill")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not (tmp_path / "c.json").exists()  # the JSON is renamed last
    monkeypatch.chdir(tmp_path)
    rc, out, err = main(fsc_argv(halves), capsys)  # no --force: refused, after finishing
    assert rc == 2 and "finished writing the outputs" in err and "c.txt exists" in err
    assert sorted(os.listdir(tmp_path)) == ["c.json", "c.txt"]
    curve = np.loadtxt(tmp_path / "c.txt")
    summary = json.loads((tmp_path / "c.json").read_text())
    assert summary["outputs"] == {"curve": "c.txt"} and curve.shape[1] == 2


def test_fsc_ctrl_c_while_renaming_writes_both_files_and_says_so(halves, tmp_path,
                                                                 monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(FAULT_ENV, "commit:curve:sigint")
    rc, out, err = main(fsc_argv(halves), capsys)
    assert rc == 130
    assert err.strip().splitlines()[-1] == ("interrupted after the outputs were complete: "
                                            "all 2 files were written")
    assert sorted(os.listdir(tmp_path)) == ["c.json", "c.txt"]


# ======================================================================================
# Stray `.tmp-XXXXXXXX.mrc` files of interrupted writes (core.write_maps, older versions)
# ======================================================================================

def test_stray_temporaries_older_than_an_hour_are_removed_and_said(d, tmp_path, monkeypatch,
                                                                   capsys):
    monkeypatch.chdir(tmp_path)
    fd, made = tempfile.mkstemp(prefix=".tmp-", suffix=".mrc", dir=tmp_path)  # as write_maps
    os.close(fd)
    stray = os.path.basename(made)
    keep = [".tmp-abcdefgh.mrc",   # fresh: a write may be filling it now
            ".tmp-short.mrc",      # not a mkstemp name
            "tmp-abcdefgh.mrc"]    # not hidden: the user's
    for name in keep + [".tmp-ijklmnop.txt"]:
        (tmp_path / name).write_text("x")
    hours_ago = time.time() - 2 * 3600
    for name in (stray, ".tmp-ijklmnop.txt", ".tmp-short.mrc", "tmp-abcdefgh.mrc"):
        os.utime(tmp_path / name, (hours_ago, hours_ago))
    rc, out, err = main(argv(d), capsys)
    assert rc == 0, err
    assert f"removed 2 temporary file(s) older than an hour left in {tmp_path}" in err
    assert stray in err and ".tmp-ijklmnop.txt" in err
    assert sorted(n for n in os.listdir(tmp_path) if n.startswith(("tmp", ".tmp"))) == \
        sorted(keep)


# ======================================================================================
# Paths found by attacking the command line by hand
# ======================================================================================

def test_a_json_path_ending_in_a_slash_is_refused_not_written_as_a_file(d, tmp_path,
                                                                       monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # before: `--json newd/` wrote a JSON file named "newd"
    refused(argv(d, json="newd/"), capsys, tmp_path,
            "cannot write the json output newd/: a path ending in / names a folder")


@pytest.mark.parametrize("prefix, folder", [("out/", "out"), (".", "."), ("sub/..", ".")])
def test_a_prefix_naming_a_folder_writes_into_it_with_default_names(
        prefix, folder, d, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # before: out/_occupancy.mrc; with -o . hidden ._mask.mrc
    (tmp_path / "sub").mkdir()
    rc, out, err = main(argv(d, prefix=prefix, json=None), capsys)
    assert rc == 0, err
    assert sorted(n for n in os.listdir(tmp_path / folder) if n != "sub") == [
        "map_mask.mrc", "map_occupancy.cxc", "map_occupancy.mrc", "map_occupancy_display.mrc"]


def test_a_fifo_output_is_refused_not_replaced_by_a_file(d, tmp_path, monkeypatch, capsys):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    monkeypatch.chdir(tmp_path)
    os.mkfifo("x.json")  # before: --force replaced the FIFO (its reader waits forever)
    rc, out, err = main(argv(d, "--force"), capsys)  # (snapshot() would block reading it)
    assert rc == 2 and out == ""
    one_error_line(err, "cannot write the json output x.json: it is not a regular file "
                        "(a FIFO")
    assert os.listdir(tmp_path) == ["x.json"]
    assert stat.S_ISFIFO(os.lstat(tmp_path / "x.json").st_mode)


@pytest.mark.skipif(os.name != "posix" or not os.path.exists("/dev/null"),
                    reason="no /dev here")
@pytest.mark.parametrize("path", ["/dev/null", "/dev/stdout"])
def test_devices_and_dev_stdout_are_refused_before_anything_is_written(path):
    """As root /dev is writable: the set's rename would replace /dev/stdout (a link) or
    /dev/null (a device) with a plain file. Only the check runs here: it refuses before
    its writability probe."""
    with pytest.raises(core.InputError) as info:
        outputs.check_outputs({"json": path})
    text = str(info.value)
    assert "\n" not in text and f"cannot write the json output {path}" in text
    assert "not a regular file" in text or "/dev holds the system's devices" in text


def journal_state(folder):
    try:
        return json.loads((folder / ".x.locspiral-journal").read_text())["state"]
    except (OSError, ValueError, KeyError):
        return None


@pytest.mark.parametrize("sig, step", [("SIGTERM", "stage:mask"), ("SIGHUP", "stage:mask"),
                                       ("SIGTERM", "commit:mask")])
def test_sigterm_stops_as_ctrl_c_does(sig, step, d, sets, tmp_path):
    """A scheduler's cancel (SIGTERM) or a closed terminal (SIGHUP) used to kill the run
    outright, leaving temporaries, a journal and a lock file; now it stops as Ctrl-C:
    nothing written while staging, the whole set while renaming."""
    signum = getattr(signal, sig, None)
    if signum is None:
        pytest.skip(f"no {sig} here")
    put_old(sets, tmp_path)
    wanted = "staging" if step.startswith("stage") else "commit"
    # (while renaming the signal is held: the pause runs to its end)
    pause = 5 if wanted == "staging" else 1.5
    env = dict(os.environ, **{FAULT_ENV: f"{step}:sleep{pause}"})
    proc = subprocess.Popen([sys.executable, "-m", "locspiral_em.cli", *argv(d, "--force")],
                            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not (journal_state(tmp_path) == wanted and
               any(n.startswith(".x_mask.mrc.") and n.endswith(outputs.TEMP_SUFFIX)
                   for n in os.listdir(tmp_path)) == (wanted == "staging")):
        assert time.time() < deadline and proc.poll() is None
        time.sleep(0.02)
    proc.send_signal(signum)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 128 + signum, err
    last = err.strip().splitlines()[-1]
    if wanted == "staging":
        assert last == "interrupted; nothing was written (existing outputs are unchanged)"
        assert_old(tmp_path, sets)  # no temporary, journal or lock left
    else:
        assert last == "interrupted after the outputs were complete: all 5 files were written"
        assert snapshot(tmp_path) == sets[2]


def test_a_name_too_long_for_its_temporary_is_refused_before_computing(d, tmp_path,
                                                                      monkeypatch, capsys):
    """A 236-character prefix: x_occupancy.mrc's name (250 bytes) fits the usual 255, its
    staged temporary (32 bytes more) does not. Before: a raw OSError naming the temporary,
    after the whole computation."""
    monkeypatch.chdir(tmp_path)
    limit = os.pathconf(tmp_path, "PC_NAME_MAX")
    prefix = "b" * (limit - len("_occupancy.mrc") - 5)
    line = refused_before_computing(argv(d, prefix=prefix), capsys, tmp_path,
                                    f"cannot write the occupancy output {prefix}_occupancy.mrc:"
                                    " its name is too long for this file system")
    assert f"at most {limit}" in line
