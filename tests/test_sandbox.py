"""The sandbox's ordinary path: where the learner's module comes from, what the child
sees, the result channel and the safe unpickler (the hostile cases are in
``test_sandbox_hostile.py``)."""

from __future__ import annotations

import contextlib
import os
import pickle
import py_compile
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import psutil
import pytest

from pytest_mpcheck.proctree import ProcessInfo
from pytest_mpcheck.sandbox import SandboxError, cgroup, run_call
from pytest_mpcheck.sandbox.protocol import KIND_PHASE, KIND_RESULT, FrameReader, encode_frame
from pytest_mpcheck.sandbox.safepickle import UnsafeResultError, safe_loads

SCENARIOS = "pytest_mpcheck.sandbox.scenarios"
HANG = Path(__file__).parent / "corpus" / "hostile" / "hang_sleep"

GOOD = """\
import multiprocessing
import os
import sys


def worker(num):
    print(f"process {num} started, PID={os.getpid()}")


def start_workers(n, target=worker):
    procs = [multiprocessing.Process(target=target, args=(i,)) for i in range(n)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    return procs


def where():
    return {
        "method": multiprocessing.get_start_method(allow_none=True),
        "probe_dir": os.environ.get("MPCHECK_PROBE_DIR"),
        "cwd": os.getcwd(),
        "cwd_entries": os.listdir("."),
        "heavy_modules": sorted(
            m for m in ("pytest", "_pytest", "psutil", "typing") if m in sys.modules
        ),
        "first_path": sys.path[0],
    }


def call_exit():
    exit(5)
"""


@pytest.fixture
def impl(tmp_path: Path) -> Path:
    folder = tmp_path / "student"
    folder.mkdir()
    (folder / "ex1_process.py").write_text(GOOD)
    return folder


def test_the_child_runs_under_the_method_in_a_fresh_directory(
    impl: Path, tmp_path: Path, mp_start_method: str
) -> None:
    outcome = run_call(
        impl,
        "ex1_process",
        f"{SCENARIOS}:call_function",
        ("where",),
        start_method=mp_start_method,
        timeout=30,
        probe_dir=tmp_path,
    )
    assert outcome.status == "ok", outcome.summary()
    seen = outcome.value
    assert seen["method"] == mp_start_method
    assert seen["probe_dir"] == str(tmp_path)
    assert seen["cwd"] != str(impl)
    assert seen["cwd_entries"] == []
    assert seen["first_path"] == str(impl.resolve())
    # Start-up stays light: no pytest, no psutil, not even typing in the child.
    assert seen["heavy_modules"] == []
    assert outcome.leftovers == []


def test_without_a_probe_dir_the_variable_is_unset(
    impl: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MPCHECK_PROBE_DIR", "/somewhere/else")
    outcome = run_call(
        impl,
        "ex1_process",
        f"{SCENARIOS}:call_function",
        ("where",),
        start_method="fork",
        timeout=30,
    )
    assert outcome.value["probe_dir"] is None


def test_workers_import_the_students_module_never_a_decoy(
    impl: Path, tmp_path: Path, mp_start_method: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A module of the same name earlier on PYTHONPATH (as the kit's own exercises/
    # folder could be) must not be what the child or its workers import.
    decoy = tmp_path / "decoy"
    decoy.mkdir()
    (decoy / "ex1_process.py").write_text("raise RuntimeError('the decoy was imported')\n")
    monkeypatch.setenv("PYTHONPATH", str(decoy))
    probe = tmp_path / "probe"
    probe.mkdir()
    outcome = run_call(
        impl,
        "ex1_process",
        f"{SCENARIOS}:ex1_probe",
        (3,),
        start_method=mp_start_method,
        timeout=60,
        probe_dir=probe,
    )
    assert outcome.status == "ok", outcome.summary()
    student_file = str((impl / "ex1_process.py").resolve())
    assert outcome.value["learner_file"] == student_file
    assert outcome.value["exitcodes"] == [0, 0, 0]
    recorded = outcome.value["pids"]
    assert len(recorded) == 3
    assert outcome.value["me"] not in recorded
    # Each worker imported the student's module and pytest_mpcheck (the probe).
    assert set(recorded.values()) == {student_file}
    for pid in recorded:
        assert f"PID={pid}" in outcome.stdout
    assert not outcome.truncated


def test_a_stale_pycache_is_never_used(impl: Path) -> None:
    source = impl / "ex1_process.py"
    source.write_text("def value():\n    return 'old'\n")
    stat = source.stat()
    py_compile.compile(str(source), cfile=None, doraise=True)  # __pycache__/...pyc of 'old'
    source.write_text("def value():\n    return 'new'\n")  # same size...
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # ...same mtime
    outcome = run_call(
        impl,
        "ex1_process",
        f"{SCENARIOS}:call_function",
        ("value",),
        start_method="spawn",
        timeout=30,
    )
    assert outcome.value == "new"


def test_exit_builtin_works_in_the_child(impl: Path) -> None:
    outcome = run_call(
        impl,
        "ex1_process",
        f"{SCENARIOS}:call_function",
        ("call_exit",),
        start_method="spawn",
        timeout=30,
    )
    assert outcome.status == "raised"
    assert outcome.exc_type == "SystemExit"
    assert outcome.exc_message == "5"


def test_a_missing_module_or_folder_is_an_import_error(impl: Path, tmp_path: Path) -> None:
    outcome = run_call(
        impl, "ex4_manager", f"{SCENARIOS}:nothing", start_method="spawn", timeout=30
    )
    assert outcome.status == "import_error"
    assert outcome.exc_message == f"there is no file ex4_manager.py in {impl.resolve()}"
    assert outcome.traceback == ""
    outcome = run_call(
        tmp_path / "nowhere",
        "ex1_process",
        f"{SCENARIOS}:nothing",
        start_method="spawn",
        timeout=30,
    )
    assert outcome.status == "import_error"
    assert "does not exist" in (outcome.exc_message or "")


def test_a_scenario_that_cannot_be_imported_is_the_suites_error(impl: Path) -> None:
    with pytest.raises(SandboxError, match="no_such_module"):
        run_call(impl, "ex1_process", "no_such_module:f", start_method="spawn", timeout=30)
    with pytest.raises(ValueError, match=r"package\.module:function"):
        run_call(impl, "ex1_process", "no colon", start_method="spawn", timeout=30)
    with pytest.raises(ValueError, match="unknown start method"):
        run_call(impl, "ex1_process", f"{SCENARIOS}:nothing", start_method="vfork", timeout=1)


def _marked(mark: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter():
        try:
            if (
                proc.environ().get("MPCHECK_SANDBOX_TEST_MARK") == mark
                and proc.status() != psutil.STATUS_ZOMBIE
            ):
                found.append(proc)
        except psutil.Error:
            continue
    return found


@pytest.mark.parametrize("how", ["SIGINT", "SIGKILL"])
def test_a_supervisor_interrupted_or_killed_leaves_no_process(tmp_path: Path, how: str) -> None:
    """Ctrl-C in pytest ends the call at once; a SIGKILLed pytest is cleaned by the reaper."""
    mark = uuid.uuid4().hex
    script = textwrap.dedent(
        f"""
        import sys
        from pytest_mpcheck.sandbox import run_call
        print("calling", flush=True)
        run_call({str(HANG)!r}, "ex1_process", "{SCENARIOS}:call_function",
                 ("start_workers", 1), start_method="spawn", timeout=120)
        """
    )
    env = dict(os.environ, MPCHECK_SANDBOX_TEST_MARK=mark)
    supervisor = subprocess.Popen(
        [sys.executable, "-c", script],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    try:
        assert supervisor.stdout is not None
        assert supervisor.stdout.readline() == b"calling\n"
        # Wait until the sandbox child runs (a marked process other than the supervisor).
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if any(p.pid != supervisor.pid for p in _marked(mark)):
                break
            time.sleep(0.05)
        time.sleep(0.5)
        supervisor.send_signal(getattr(signal, how))
        supervisor.wait(timeout=30)
        deadline = time.monotonic() + 10
        while _marked(mark) and time.monotonic() < deadline:
            time.sleep(0.1)
        survivors = [p for p in _marked(mark) if not _is_reaper(p)]
        assert not survivors
    finally:
        supervisor.kill()
        supervisor.wait(timeout=10)


def _is_reaper(proc: psutil.Process) -> bool:
    try:
        return "reaper" in " ".join(proc.cmdline())
    except psutil.Error:
        return False


# --------------------------------------------------------------------------- units


def test_the_frame_reader_skips_noise_and_forged_frames() -> None:
    token = b"t" * 16
    reader = FrameReader(token)
    forged = encode_frame(b"f" * 16, KIND_RESULT, b"fake")
    real = encode_frame(token, KIND_PHASE, b"call") + encode_frame(token, KIND_RESULT, b"ok")
    data = b"noise" + forged + real
    frames = []
    for i in range(0, len(data), 7):  # split anywhere, tokens included
        frames += reader.feed(data[i : i + 7])
    assert frames == [(KIND_PHASE, b"call"), (KIND_RESULT, b"ok")]
    assert reader.noise == len(b"noise" + forged)


def test_the_safe_unpickler_takes_plain_data_and_our_data_classes() -> None:
    value = {"a": [1, 2.5, (3, "x")], "b": {4}, "p": ProcessInfo(1, "n", "c")}
    assert safe_loads(pickle.dumps(value)) == value


def test_the_safe_unpickler_refuses_anything_that_runs_code() -> None:
    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.system, ("true",))

    with pytest.raises(UnsafeResultError, match=r"posix\.system"):
        safe_loads(pickle.dumps(Evil()))
    # Only our own plain data classes: not our other classes, not what our modules
    # import from elsewhere (protocol-0 GLOBAL opcodes written by hand).
    assert safe_loads(b"cpytest_mpcheck.sandbox.supervisor\nProcessInfo\n.") is ProcessInfo
    for module, name in [
        ("pytest_mpcheck.sandbox.supervisor", "SandboxError"),
        ("pytest_mpcheck.sandbox.supervisor", "subprocess"),
        ("pytest_mpcheck.sandbox.supervisor", "IO"),
        ("subprocess", "Popen"),
    ]:
        with pytest.raises(UnsafeResultError):
            safe_loads(f"c{module}\n{name}\n.".encode())


# --------------------------------------------------------------------------- cgroup

needs_cgroup = pytest.mark.skipif(
    not cgroup.available(), reason="no writable cgroup pids hierarchy here (root on Linux)"
)


@needs_cgroup
def test_the_pids_cgroup_refuses_forks_beyond_its_cap() -> None:
    group = cgroup.PidsCgroup.create("test-cap", 5)
    assert group is not None
    script = textwrap.dedent(
        f"""
        import os, time
        with open({group.procs_file!r}, "w") as f:
            f.write("0")
        forked = 0
        try:
            while forked < 50:
                if os.fork() == 0:
                    time.sleep(30)
                    os._exit(0)
                forked += 1
        except BlockingIOError:
            pass
        print(forked, flush=True)
        os.killpg(0, 9)
        """
    )
    try:
        out = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            timeout=60,
            start_new_session=True,
        )
        assert out.stdout.strip() == "4"  # 5 tasks: the script and 4 children
    finally:
        for pid in group.members():
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        group.remove(timeout=5)


@needs_cgroup
def test_a_call_runs_in_a_pids_cgroup_of_its_own(impl: Path) -> None:
    (impl / "ex1_process.py").write_text(
        "def groups():\n    return open('/proc/self/cgroup').read()\n"
    )
    outcome = run_call(
        impl,
        "ex1_process",
        f"{SCENARIOS}:call_function",
        ("groups",),
        start_method="fork",
        timeout=30,
    )
    assert outcome.status == "ok"
    pids_line = next(line for line in outcome.value.splitlines() if ":pids:" in line)
    assert f"/mpcheck-{os.getpid()}-" in pids_line


# --------------------------------------------------------------------------- in a pytest run


def test_pytest_timeout_interrupting_a_call_leaves_no_process(pytester: pytest.Pytester) -> None:
    """pytest-timeout (signal method) raises inside run_call: the call is still cleaned up."""
    mark = uuid.uuid4().hex
    pytester.makepyfile(
        f"""
        import os
        from pytest_mpcheck.sandbox import run_call

        def test_hangs():
            os.environ["MPCHECK_SANDBOX_TEST_MARK"] = {mark!r}
            run_call({str(HANG)!r}, "ex1_process", "{SCENARIOS}:call_function",
                     ("start_workers", 1), start_method="spawn", timeout=120)

        def test_next_one_runs():
            pass
        """
    )
    result = pytester.runpytest_subprocess(
        "--timeout=3", "--timeout-method=signal", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(["*Timeout*"])
    deadline = time.monotonic() + 10
    while _marked(mark) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in _marked(mark) if not _is_reaper(p)]
