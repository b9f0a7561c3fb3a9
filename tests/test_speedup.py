"""assert_speedup and the ``speedup`` fixture, end to end with pytester.

These verdicts run on a 2-core machine that other work is loading, so the tests
hold the plugin to its promise rather than to timing: a serial version must fail
with "one task after another", a correct ``Pool(2)`` must never fail (it passes,
or, when the machine is too busy, it is skipped with a reason that says it did
run in parallel).
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

IMPLS = """
import multiprocessing as mp
import time

DATA = [1, 2, 3, 4]


def heavy(x, n=500_000):
    return sum(i * x for i in range(n))


def run_serial():
    return [heavy(x) for x in DATA]


def pool2(method):
    with mp.get_context(method).Pool(2) as pool:
        return pool.map(heavy, DATA)


def pool1(method):
    with mp.get_context(method).Pool(1) as pool:
        return pool.map(heavy, DATA)


def one_by_one(method):
    ctx = mp.get_context(method)
    for x in DATA:
        p = ctx.Process(target=heavy, args=(x,))
        p.start()
        p.join()


def plain_map(method):
    return list(map(heavy, DATA))


def cheat(method):
    # Serial, and it patches every clock to make itself look 10 times as fast.
    real_pc, real_mono, real_pt = time.perf_counter, time.monotonic, time.process_time
    start = real_pc()
    result = list(map(heavy, DATA))
    took = real_pc() - start
    time.perf_counter = lambda: real_pc() - 0.9 * took
    time.monotonic = lambda: real_mono() - 0.9 * took
    time.process_time = lambda: real_pt() - 0.9 * took
    return result


plain_map_busy_helper = plain_map


def pool2_patching(method):
    # Correct, but it makes the clocks run 100 times too fast while it works.
    real_pc, real_mono = time.perf_counter, time.monotonic
    time.perf_counter = lambda: real_pc() * 100
    time.monotonic = lambda: real_mono() * 100
    try:
        return pool2(method)
    finally:
        time.perf_counter, time.monotonic = real_pc, real_mono
"""

TESTS = """
import functools
import subprocess
import sys
import time

import pytest

import impls


@pytest.fixture(autouse=True)
def _restore_clocks(monkeypatch):
    # Some implementations patch `time`; put it back after each test.
    for name in ("perf_counter", "monotonic", "process_time"):
        monkeypatch.setattr(time, name, getattr(time, name))


@pytest.fixture
def busy_helper(impl):
    # A CPU-bound helper process, as a fixture might start, busy all the time.
    if "busy_helper" not in impl:
        yield
        return
    helper = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    yield
    helper.kill()
    helper.wait(10)


@pytest.mark.parametrize("impl, method", {params})
def test_speedup(speedup, busy_helper, impl, method):
    verdict = speedup(impls.run_serial, functools.partial(getattr(impls, impl), method))
    print("VERDICT", verdict.report())
"""

SERIAL_MESSAGE = "*the parallel version ran one task after another: in * runs only one process*"


@pytest.fixture
def speedup_env(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    # An outer pytest-xdist run must not make the inner run think it shares the machine.
    monkeypatch.delenv("PYTEST_XDIST_WORKER_COUNT", raising=False)
    pytester.makepyfile(impls=IMPLS)
    return pytester


def _run(pytester: pytest.Pytester, params: list[tuple[str, str]], *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_it=TESTS.replace("{params}", repr(params)))
    return pytester.runpytest_subprocess("-rfsP", "-p", "no:cacheprovider", *args, timeout=300)


def _not_failed_and_parallel(result: pytest.RunResult, expected: int) -> None:
    """A correct version passes, or is skipped because the machine is too busy."""
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0, result.stdout.str()
    assert outcomes.get("passed", 0) + outcomes.get("skipped", 0) == expected
    text = result.stdout.str()
    for line in text.splitlines():
        if line.startswith("SKIPPED"):
            # Skipped only for timing: the evidence said it did run in parallel (a small
            # spawn workload can spend more CPU starting workers than working).
            assert "cannot judge speedup here" in line, line
            assert "the work ran in parallel" in line or (
                "several processes were busy at once" in line
                and "Starting workers costs CPU time too" in line
            ), line
    if outcomes.get("passed"):
        result.stdout.fnmatch_lines(
            [
                "VERDICT the parallel version ran in several processes at once and was *"
                " times as fast as the serial one (threshold 1.25)",
                "speedup: * (median; * to *; timed rounds: *)",
                "threshold: 1.25 (a quarter of the ideal gain on 2 CPUs*",
                "effective CPUs: 2 (cpu_count 2, affinity 2*",
                "evidence: several processes used a CPU at the same time in * parallel runs*",
                "reference burst (two known-good workers): speedup *",
            ]
        )


def test_correct_pool_is_never_failed(speedup_env: pytest.Pytester) -> None:
    params = [("pool2", "spawn"), ("pool2", "forkserver"), ("pool2", "fork")]
    result = _run(speedup_env, params, "--mpcheck-speedup-budget=3")
    _not_failed_and_parallel(result, 3)


@pytest.mark.parametrize(
    "params",
    [
        [("one_by_one", "spawn"), ("one_by_one", "fork")],
        [("pool1", "forkserver"), ("plain_map", "fork")],
    ],
    ids=["started-then-joined", "pool1-and-plain-map"],
)
def test_serial_versions_fail(speedup_env: pytest.Pytester, params: list[tuple[str, str]]) -> None:
    result = _run(speedup_env, params)
    result.assert_outcomes(failed=len(params))
    result.stdout.fnmatch_lines(
        [
            SERIAL_MESSAGE,
            "speedup: * (median; * to *; timed rounds: *)",
            "threshold: 1.25 *",
            "effective CPUs: 2 *",
            "evidence: several processes used a CPU at the same time in 0 of * parallel runs,"
            " one at a time in *",
        ]
    )
    # pytest.fail(..., pytrace=False): the learner reads the diagnosis, not a traceback.
    assert "functools.partial" not in result.stdout.str()


def test_patched_clocks_do_not_change_the_verdict(speedup_env: pytest.Pytester) -> None:
    result = _run(speedup_env, [("cheat", "fork"), ("pool2_patching", "fork")])
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed") == 1, result.stdout.str()
    # The cheat is caught as serial, and its speedup is the real one (about 1), not 10.
    result.stdout.fnmatch_lines(
        [SERIAL_MESSAGE, "FAILED test_it.py::test_speedup?cheat-fork? - Failed: *"]
    )
    found = re.search(r"its speedup was ([0-9.]+)", result.stdout.str())
    assert found is not None
    assert float(found.group(1)) < 4  # noise on a busy machine, never the 10 it faked
    # The correct version whose clocks ran 100 times too fast is not failed.
    assert "test_speedup[pool2_patching-fork] - " not in result.stdout.str()
    assert "FAILED test_it.py::test_speedup[pool2_patching" not in result.stdout.str()


def test_a_busy_helper_process_does_not_make_serial_code_parallel(
    speedup_env: pytest.Pytester,
) -> None:
    result = _run(speedup_env, [("plain_map_busy_helper", "fork")])
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([SERIAL_MESSAGE])


def test_one_effective_cpu_skips(speedup_env: pytest.Pytester) -> None:
    if not hasattr(__import__("os"), "sched_setaffinity"):
        pytest.skip("no affinity masks on this platform")
    speedup_env.makeconftest(
        "import os\nos.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})\n"
    )
    result = _run(speedup_env, [("pool2", "fork"), ("one_by_one", "fork")])
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(
        [
            "SKIPPED * cannot judge speedup here: fewer than 2 effective CPUs"
            " (1 (cpu_count *, affinity 1))*"
        ]
    )


def test_xdist_workers_share_the_cpus(
    speedup_env: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What pytest-xdist sets in each worker's environment (a real `-n 2` run costs
    # two more interpreters' start-up for the same check).
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "2")
    result = _run(speedup_env, [("pool2", "fork"), ("pool1", "fork")])
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(
        ["*cannot judge speedup here: fewer than 2 effective CPUs (1 (*xdist share 1))*"]
    )


HOLDER = textwrap.dedent(
    """
    import sys, time
    from pytest_mpcheck.speedup.lock import timing_lock
    with timing_lock(sys.argv[1], timeout=30):
        print("held", flush=True)
        time.sleep(60)
    """
)


def test_lock_held_elsewhere_skips_with_the_reason(
    speedup_env: pytest.Pytester, tmp_path: Path
) -> None:
    lock = tmp_path / "timing.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(lock)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        result = _run(
            speedup_env,
            [("one_by_one", "fork")],
            f"--mpcheck-speedup-lock={lock}",
            "--mpcheck-speedup-lock-timeout=0.5",
        )
    finally:
        holder.kill()
        holder.wait(10)
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(
        [
            f"*cannot judge speedup here: another timing measurement (pid {holder.pid}) held the"
            f" machine-wide lock {lock} for more than 0.5 s*"
        ]
    )


CHILD = textwrap.dedent(
    """
    import functools, pickle, sys
    sys.path.insert(0, sys.argv[1])
    from pytest_mpcheck.speedup import measure_speedup
    import impls
    m = measure_speedup(impls.run_serial, functools.partial(impls.one_by_one, "fork"))
    sys.stdout.buffer.write(pickle.dumps(m))
    """
)


def test_measured_in_a_child_judged_in_pytest(speedup_env: pytest.Pytester) -> None:
    """As the kit does: measure inside a separate process, judge the pickled result here."""
    import pickle

    from pytest_mpcheck.speedup import SpeedupMeasurement, judge

    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(speedup_env.path)],
        capture_output=True,
        check=True,
        timeout=120,
    ).stdout
    try:
        # What the sandbox unpickles with: only builtins and our own data classes.
        from pytest_mpcheck.sandbox.safepickle import safe_loads
    except ImportError:  # pragma: no cover - the sandbox is another module's work
        safe_loads = pickle.loads
    measurement = safe_loads(out)
    assert isinstance(measurement, SpeedupMeasurement)
    verdict = judge(measurement)
    assert verdict.kind == "fail-serial", verdict.report()
    assert verdict.processes == 4  # one process per task, one after another


def test_options_reach_the_fixture(speedup_env: pytest.Pytester) -> None:
    speedup_env.makeini(
        "[pytest]\nmpcheck_speedup_budget = 3\nmpcheck_speedup_min = 1.5\n"
        "mpcheck_speedup_lock_timeout = 7\n"
    )
    speedup_env.makepyfile(
        test_opts="""
        def test_settings(speedup):
            s = speedup.settings
            assert (s.budget, s.min_speedup, s.lock_timeout) == (2.0, 1.5, 7.0)
            assert speedup.lock_path.name == "my.lock"
        """
    )
    result = speedup_env.runpytest(
        "--mpcheck-speedup-budget=2", "--mpcheck-speedup-lock=/tmp/x/my.lock"
    )
    result.assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (
            "--mpcheck-speedup-budget=soon",
            "--mpcheck-speedup-budget: expected a number above 0, got 'soon'.",
        ),
        (
            "--mpcheck-speedup-min=0.9",
            "--mpcheck-speedup-min: expected a number above 1, got '0.9'.",
        ),
        (
            "--mpcheck-speedup-lock-timeout=-1",
            "--mpcheck-speedup-lock-timeout: expected a number above 0, got '-1'.",
        ),
    ],
)
def test_bad_option_values(speedup_env: pytest.Pytester, option: str, message: str) -> None:
    speedup_env.makepyfile(test_nothing="def test_nothing():\n    pass\n")
    result = speedup_env.runpytest(option)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{message}*"])
