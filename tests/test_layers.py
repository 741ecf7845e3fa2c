"""The architecture, checked: the import contracts hold, and Thread installs one import name.

The contracts are import-linter's (`[tool.importlinter]` in pyproject.toml): front ends ->
pipelines and queries -> importers, sim, audit -> records and stores -> ontology -> errors,
with importers that never reach a store, an ontology that needs only the errors, and sim
cores that compute without the graph."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINKED = ("ontology", "importers", "sim", "cli")
"""Top-level folders of the repository that live in the namespace as thread.<name>."""
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    """import-linter over the `thread` package of `tree` (first on the path)."""
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tree,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )


def test_the_import_contracts_hold() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_wrong_import_fails_with_the_offending_chain(tmp_path: Path) -> None:
    for name in ("thread", *LINKED):
        shutil.copytree(
            ROOT / name,
            tmp_path / name,
            symlinks=True,
            ignore=shutil.ignore_patterns("__pycache__"),
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    errors = tmp_path / "thread" / "errors.py"
    errors.write_text(errors.read_text() + "\nfrom thread.queries import trace  # wrong way\n")
    importer = tmp_path / "importers" / "base.py"
    importer.write_text(importer.read_text() + "\nfrom thread.entities import get_entity\n")
    result = lint_imports(tmp_path)
    assert result.returncode == 1
    assert "thread.errors is not allowed to import thread.queries" in result.stdout
    assert "thread.errors -> thread.queries.trace" in result.stdout
    # an indirect chain is named hop by hop: base -> entities -> stores
    assert "thread.importers.base -> thread.entities" in result.stdout


def _imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_nothing_imports_the_folders_by_their_bare_names() -> None:
    """`import importers` would load a second copy of the package beside thread.importers
    (the checkout's root is on the path when tests run), with registries of its own."""
    folders = ["thread", *LINKED, "tests", "bench", "examples"]
    offenders = sorted(
        f"{path.relative_to(ROOT)}: {name}"
        for folder in folders
        for path in (ROOT / folder).rglob("*.py")
        if not path.is_symlink() and "node_modules" not in path.parts
        for name in _imported(path)
        if name.split(".")[0] in LINKED
    )
    assert offenders == []


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built from a copy of the files git knows (tracked, or new and not ignored) (setuptools leaves build/ and
    *.egg-info/ behind, and would pack stale files from an earlier build/)."""
    out = tmp_path_factory.mktemp("wheel")
    source = tmp_path_factory.mktemp("source")
    tracked = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split("\0")
    for name in filter(None, tracked):
        target = source / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if (ROOT / name).is_symlink():
            target.symlink_to((ROOT / name).readlink())
        elif (ROOT / name).is_file():
            shutil.copy2(ROOT / name, target)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(out), str(source)],
        check=True, capture_output=True,
    )  # fmt: skip
    (found,) = out.glob("digital_thread-*.whl")
    return found


def test_the_wheel_adds_one_import_name(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        (top_level,) = [n for n in archive.namelist() if n.endswith(".dist-info/top_level.txt")]
        assert archive.read(top_level).decode().split() == ["thread"]
        names = archive.namelist()
    assert {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")} == {
        "thread"
    }
    for shipped in (
        "thread/ontology/thread.ttl",
        "thread/importers/mappings/bom.toml",
        "thread/importers/mappings/cmapss.toml",
        "thread/cli/main.py",
    ):
        assert shipped in names


def test_the_wheel_runs_the_demo_without_the_checkout(wheel: Path, tmp_path: Path) -> None:
    """The wheel in a fresh venv (dependencies from this one, the checkout nowhere on the
    path) answers `thread demo`."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    ours = subprocess.run(
        [sys.executable, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    # the dependencies as a plain path entry: the .pth files there (the checkout's
    # editable finder among them) are not run
    (Path(site) / "dependencies.pth").write_text(ours + "\n")
    result = subprocess.run(
        [str(python), "-c", "import sys; from thread.cli.main import run; sys.argv[0] = 'thread'; "
         "import thread; print(thread.__file__, file=sys.stderr); run()", "demo"],
        cwd=tmp_path, capture_output=True, text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "THREAD_HOME": str(tmp_path / "home")},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert str(venv) in result.stderr.splitlines()[0]
    assert "example thread: 504 nodes" in result.stdout
    assert "lot:LOT-B-2302" in result.stdout
