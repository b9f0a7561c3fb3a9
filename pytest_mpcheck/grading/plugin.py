"""Grading hooks: the ``points`` marker, the scoreboard and the ``--mpcheck-report`` file.

Where tests are collected (the pytest process, or each pytest-xdist worker) each
test's worth is computed and put on its reports' ``user_properties``. Where reports
are read (the same process, or the xdist controller) the scoreboard folds them in.
Under xdist the controller also learns the full list of collected tests and their
worth from a small file each worker writes at collection time, so a test whose worker
crashed before it reported anything is still counted, as failed with a reason.

The report file is rewritten (atomically) as each test starts and at the end of the
session, with tests not finished yet marked failed with a reason: if the run is
killed (pytest-timeout's ``thread`` method ends the process with ``os._exit``), the
file on disk is still complete, valid JSON that blames the test that was running.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from pytest_mpcheck.grading.points import MARKER_HELP, PROPERTY_NAME, compute_points
from pytest_mpcheck.grading.report import FORMATS, build_report, write_json_atomic
from pytest_mpcheck.grading.scores import get_scoreboard
from pytest_mpcheck.i18n import _
from pytest_mpcheck.plugin import option_group

REPORT_HELP = (
    "write the grading report (points per test) as JSON to this path at the end of the run "
    "(and keep it complete while tests run)."
)
REPORT_FORMAT_HELP = (
    "the report's schema: gradescope (results.json, the default), exercism (test-runner "
    "results.json, version 3) or classroom (GitHub Classroom's autograding reporter)."
)
ONLY_HELP = (
    "run only the tests whose node ids are listed in this file (one a line), each keeping "
    "the worth it has in the full run (used by `mpcheck grade` to finish a run that died)."
)
DEFAULT_FORMAT = "gradescope"

#: workerinput key: the folder where xdist workers leave the collected tests' worth.
WORKERINPUT_KEY = "mpcheck_points_dir"

_WORTH_KEY = pytest.StashKey[dict[str, float]]()
_STATE_KEY = pytest.StashKey["_ReportState"]()


class _ReportState:
    """Where and how this run writes its report, and the controller's points folder."""

    def __init__(self, path: Path | None, report_format: str) -> None:
        self.path = path
        self.format = report_format
        self.points_dir: Path | None = None
        self.points_loaded = False
        self.start = time.monotonic()


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--mpcheck-report`` and ``--mpcheck-report-format`` and their ini twins."""
    group = option_group(parser)
    group.addoption("--mpcheck-report", dest="mpcheck_report", default=None, help=REPORT_HELP)
    group.addoption(
        "--mpcheck-report-format",
        dest="mpcheck_report_format",
        default=None,
        help=REPORT_FORMAT_HELP,
    )
    group.addoption("--mpcheck-only", dest="mpcheck_only", default=None, help=ONLY_HELP)
    parser.addini("mpcheck_report", REPORT_HELP, default="")
    parser.addini("mpcheck_only", ONLY_HELP, default="")
    parser.addini("mpcheck_report_format", REPORT_FORMAT_HELP, default=DEFAULT_FORMAT)


def _is_xdist_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _check_report_path(raw: str, config: pytest.Config) -> Path:
    """Return the report path, or raise ``UsageError`` when it cannot be written."""
    path = Path(raw).expanduser()
    if not path.is_absolute():
        path = Path(config.invocation_params.dir) / path
    if path.is_dir():
        raise pytest.UsageError(
            _("--mpcheck-report {path} is a folder: give the path of a file to write.").format(
                path=path
            )
        )
    parent = path.parent
    if not parent.is_dir():
        raise pytest.UsageError(
            _("--mpcheck-report {path}: the folder {parent} does not exist.").format(
                path=path, parent=parent
            )
        )
    if not os.access(parent, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise pytest.UsageError(
            _("--mpcheck-report {path}: this file cannot be written here.").format(path=path)
        )
    return path


class _XdistControllerHooks:
    """Hooks that exist only when pytest-xdist is active (registered conditionally)."""

    def __init__(self, state: _ReportState) -> None:
        self.state = state

    def pytest_configure_node(self, node: Any) -> None:
        """Tell each xdist worker where to leave the collected tests' worth."""
        if self.state.points_dir is None:
            self.state.points_dir = Path(tempfile.mkdtemp(prefix="mpcheck-points-"))
        node.workerinput[WORKERINPUT_KEY] = str(self.state.points_dir)


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``points`` marker; check the report options; set up the scoreboard."""
    config.addinivalue_line("markers", MARKER_HELP)
    get_scoreboard(config)
    raw_format = config.getoption("mpcheck_report_format") or config.getini("mpcheck_report_format")
    report_format = str(raw_format or DEFAULT_FORMAT).strip().lower()
    if report_format not in FORMATS:
        raise pytest.UsageError(
            _("--mpcheck-report-format {value!r} is unknown: choose one of {choices}.").format(
                value=raw_format, choices=", ".join(FORMATS)
            )
        )
    path: Path | None = None
    if not _is_xdist_worker(config):
        raw_path = config.getoption("mpcheck_report") or config.getini("mpcheck_report")
        if raw_path:
            path = _check_report_path(str(raw_path), config)
    state = _ReportState(path, report_format)
    config.stash[_STATE_KEY] = state
    config.pluginmanager.register(_Feeder(config), "mpcheck-grading-feeder")
    if not _is_xdist_worker(config) and config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistControllerHooks(state), "mpcheck-grading-xdist")


def report_path(config: pytest.Config) -> Path | None:
    """Where this run writes its score report (``None``: not a grading run)."""
    state = config.stash.get(_STATE_KEY, None)
    return state.path if state is not None else None


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the controller's points folder."""
    state = config.stash.get(_STATE_KEY, None)
    if state is not None and state.points_dir is not None:
        shutil.rmtree(state.points_dir, ignore_errors=True)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Compute each test's worth before deselection, and carry it on its reports.

    ``tryfirst`` so that ``-k``/``-m`` deselection (which runs later) does not change
    how a function's points are shared among its parametrized instances.
    """
    worth = compute_points(items)
    config.stash[_WORTH_KEY] = worth
    for item in items:
        item.user_properties.append((PROPERTY_NAME, worth[item.nodeid]))
    only_file = config.getoption("mpcheck_only") or config.getini("mpcheck_only")
    if only_file:
        try:
            text = Path(str(only_file)).read_text(encoding="utf-8")
        except OSError as error:
            raise pytest.UsageError(
                _("--mpcheck-only {path} cannot be read: {error}").format(
                    path=only_file, error=error
                )
            ) from error
        wanted = {line.strip() for line in text.splitlines() if line.strip()}
        kept = [item for item in items if item.nodeid in wanted]
        dropped = [item for item in items if item.nodeid not in wanted]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = kept


def pytest_collection_finish(session: pytest.Session) -> None:
    """Register the selected tests on the board (or, on an xdist worker, in a file)."""
    config = session.config
    worth = config.stash.get(_WORTH_KEY, {})
    selected = {item.nodeid: worth.get(item.nodeid, 0.0) for item in session.items}
    if _is_xdist_worker(config):
        folder = config.workerinput.get(WORKERINPUT_KEY)  # type: ignore[attr-defined]
        if folder and Path(folder).is_dir():
            worker = config.workerinput.get("workerid", "gw")  # type: ignore[attr-defined]
            write_json_atomic(Path(folder) / f"points-{worker}.json", list(selected.items()))
        return
    get_scoreboard(config).expect(selected)
    _write(config)


def _load_worker_points(config: pytest.Config, state: _ReportState) -> None:
    """On the xdist controller, read the collected tests' worth a worker left."""
    if state.points_loaded or state.points_dir is None:
        return
    for path in sorted(state.points_dir.glob("points-*.json")):
        try:
            pairs = json.loads(path.read_text(encoding="utf-8"))
            worth = {str(nodeid): float(points) for nodeid, points in pairs}
        except (OSError, ValueError, TypeError):
            continue
        get_scoreboard(config).expect(worth)
        state.points_loaded = True
        return


def _write(config: pytest.Config, final: bool = False) -> None:
    """Write the report now, if one was asked for."""
    state = config.stash.get(_STATE_KEY, None)
    if state is None or state.path is None or config.option.collectonly:
        return  # nothing asked for, or nothing run (--collect-only) to report
    board = get_scoreboard(config)
    data = build_report(board, state.format, time.monotonic() - state.start)
    try:
        write_json_atomic(state.path, data)
    except OSError as error:
        if final:
            message = _("The grading report could not be written to {path}: {error}").format(
                path=state.path, error=error
            )
            reporter = config.pluginmanager.get_plugin("terminalreporter")
            if reporter is not None:
                reporter.write_line(message, red=True)


class _Feeder:
    """Hooks that need the config: feeding the board from log events."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def pytest_runtest_logstart(self, nodeid: str, location: tuple[str, int | None, str]) -> None:
        """Mark the test as running and save the report, blaming it if the run dies now."""
        state = self.config.stash[_STATE_KEY]
        _load_worker_points(self.config, state)
        get_scoreboard(self.config).start(nodeid)
        _write(self.config)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Fold a setup/call/teardown report (or an xdist crash report) into the board."""
        state = self.config.stash[_STATE_KEY]
        _load_worker_points(self.config, state)
        get_scoreboard(self.config).record(report)
        if report.when not in ("setup", "call", "teardown"):
            _write(self.config)  # a worker crashed: save at once

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        """Say where the report went and the score it holds."""
        state = self.config.stash[_STATE_KEY]
        if state.path is None or self.config.option.collectonly:
            return
        board = get_scoreboard(self.config)
        terminalreporter.write_line(
            _("mpcheck report ({format}): {path}: {score} of {max_score} points").format(
                format=state.format,
                path=state.path,
                score=f"{board.score:g}",
                max_score=f"{board.max_score:g}",
            )
        )

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Write the final report."""
        state = self.config.stash[_STATE_KEY]
        _load_worker_points(self.config, state)
        _write(self.config, final=True)
