"""``mpcheck gradescope-bundle``: a ready ``autograder.zip`` for Gradescope.

Gradescope unpacks the zip into ``/autograder/source``, runs ``setup.sh`` once when
it builds the image, then ``run_autograder`` for every submission (in
``/autograder/submission``), which must leave ``/autograder/results/results.json``.
The bundle carries this project's source (installed by ``setup.sh`` into a virtual
environment) and the kit's tests; ``run_autograder`` grades the submission with
``mpcheck grade``, exactly as an instructor would on their own machine. Each
Gradescope container grades one submission, which is how grading scales past one
machine.
"""

from __future__ import annotations

import stat
import zipfile
from collections.abc import Iterator
from pathlib import Path

from pytest_mpcheck.exceptions import MpcheckError
from pytest_mpcheck.i18n import _

__all__ = ["BundleError", "project_root", "write_bundle"]

SKIPPED_PARTS = {"__pycache__", ".mpcheck", ".pytest_cache", ".mypy_cache", ".ruff_cache"}

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, when it builds the autograder image.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
if ! command -v python3 >/dev/null || ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    apt-get update
    apt-get install -y --no-install-recommends python3 python3-venv python3-pip
fi
python3 -m venv /autograder/venv
/autograder/venv/bin/python -m pip install --upgrade pip
/autograder/venv/bin/python -m pip install /autograder/source/pytest-mpcheck
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for each submission; it must write results/results.json.
set -uo pipefail
ROOT="${{MPCHECK_AUTOGRADER_ROOT:-/autograder}}"
PYTHON="${{MPCHECK_PYTHON:-$ROOT/venv/bin/python}}"
SUBMISSION="$ROOT/submission"
# Students may upload a folder rather than the five files: grade the folder that
# holds ex1_process.py.
found="$(find "$SUBMISSION" -maxdepth 3 -name ex1_process.py -print 2>/dev/null | head -n 1)"
if [ -n "$found" ]; then
    SUBMISSION="$(dirname "$found")"
fi
mkdir -p "$ROOT/results"
rm -f "$SUBMISSION/results.json"
"$PYTHON" -m pytest_mpcheck.cli grade "$SUBMISSION" --regrade \\
    --out "$ROOT/results/grades.csv" \\
    --kit "$ROOT/source/kit/exercises" \\
    --timeout {timeout}
if [ -s "$SUBMISSION/results.json" ]; then
    cp "$SUBMISSION/results.json" "$ROOT/results/results.json"
else
    cat > "$ROOT/results/results.json" <<'JSON'
{{"score": 0, "tests": [], "output": "{failure}"}}
JSON
fi
"""


class BundleError(MpcheckError):
    """The bundle cannot be made (for example, not run from a source checkout)."""


def project_root() -> Path:
    """Return the source checkout this package runs from (holding ``pyproject.toml``)."""
    root = Path(__file__).resolve().parents[2]
    if not (root / "pyproject.toml").is_file() or not (root / "pytest_mpcheck").is_dir():
        raise BundleError(
            _(
                "The Gradescope bundle needs pytest-mpcheck installed from a source checkout "
                "(pip install -e .); {root} has no pyproject.toml."
            ).format(root=root)
        )
    return root


def _files(folder: Path) -> Iterator[Path]:
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not (SKIPPED_PARTS & set(path.relative_to(folder).parts)):
            if path.suffix in (".pyc", ".pyo"):
                continue
            yield path


def _add(archive: zipfile.ZipFile, name: str, data: bytes, executable: bool = False) -> None:
    info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    mode = 0o755 if executable else 0o644
    info.external_attr = (stat.S_IFREG | mode) << 16
    archive.writestr(info, data)


def write_bundle(out: Path, *, kit: Path, timeout: float = 600.0) -> Path:
    """Write the Gradescope autograder zip to ``out``; return its path."""
    root = project_root()
    out = Path(out)
    if not out.parent.resolve().is_dir():
        raise BundleError(_("The folder of {path} does not exist.").format(path=out))
    failure = _("The autograder could not grade this submission; ask your instructor.")
    run = RUN_AUTOGRADER.format(timeout=int(timeout), failure=failure.replace('"', "'"))
    tmp = out.with_name(f".{out.name}.tmp")
    with zipfile.ZipFile(tmp, "w") as archive:
        _add(archive, "setup.sh", SETUP_SH.encode(), executable=True)
        _add(archive, "run_autograder", run.encode(), executable=True)
        for name in ("pyproject.toml", "README.md", "LICENSE"):
            if (root / name).is_file():
                _add(archive, f"pytest-mpcheck/{name}", (root / name).read_bytes())
        package = root / "pytest_mpcheck"
        for path in _files(package):
            rel = path.relative_to(root).as_posix()
            _add(archive, f"pytest-mpcheck/{rel}", path.read_bytes())
        for path in _files(kit):
            rel = path.relative_to(kit).as_posix()
            _add(archive, f"kit/exercises/{rel}", path.read_bytes())
    tmp.replace(out)
    return out
