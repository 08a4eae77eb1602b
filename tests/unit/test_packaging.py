"""The package is assembled from the top-level folders; every view of it must agree."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from tests.conftest import REPO

ROOTS = {
    "govops": "core",
    "govops.cli": "cli",
    "govops.cloud": "cloud",
    "govops.network": "network",
    "govops.capacity": "capacity",
    "govops.reports": "reports",
    "govops.lab": "lab",
    "govops.automation": "automation",
}


def _pyproject() -> dict:  # type: ignore[type-arg]
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def test_package_dir_maps_the_required_folders() -> None:
    assert _pyproject()["tool"]["setuptools"]["package-dir"] == ROOTS


def test_every_python_folder_is_a_listed_package() -> None:
    listed = set(_pyproject()["tool"]["setuptools"]["packages"])
    found = set()
    for pkg, folder in ROOTS.items():
        for init in (REPO / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(REPO / folder)
            if "fixtures" in rel.parts or "__pycache__" in rel.parts:
                continue
            found.add(".".join([pkg, *rel.parts]))
    assert found - listed == set(), "add these to [tool.setuptools] packages"


def test_every_folder_with_python_files_has_an_init() -> None:
    """Without ``__init__.py`` setuptools (outside strict editable mode) ships no module of the
    folder: ``pip install -e .`` then failed ``govops play list`` with ModuleNotFoundError."""
    missing = []
    for folder in ROOTS.values():
        for path in (REPO / folder).rglob("*.py"):
            rel = path.parent.relative_to(REPO)
            if "fixtures" in rel.parts or "__pycache__" in rel.parts:
                continue
            if not (path.parent / "__init__.py").exists():
                missing.append(str(rel))
    assert sorted(set(missing)) == []


def test_non_strict_editable_install_imports_every_package(tmp_path: Path) -> None:
    """A plain ``pip install -e .`` (setuptools' lenient mode, no strict links) must find every
    subpackage: the package list is what decides, not the developer's strict build folder."""
    listed = _pyproject()["tool"]["setuptools"]["packages"]
    dirs = _pyproject()["tool"]["setuptools"]["package-dir"]
    for pkg in listed:
        root = next(p for p in sorted(dirs, key=len, reverse=True) if pkg == p or pkg.startswith(p + "."))
        folder = REPO / dirs[root] / Path(*pkg[len(root) + 1 :].split(".")) if pkg != root else REPO / dirs[root]
        assert (folder / "__init__.py").is_file(), f"{pkg}: {folder} has no __init__.py"


def test_no_root_folder_shadows_the_package() -> None:
    assert not (REPO / "govops").exists()


def test_imported_package_is_the_checkout() -> None:
    import govops
    import govops.cli.app

    assert Path(govops.cli.app.__file__).resolve() == (REPO / "cli" / "app.py").resolve()
    assert Path(govops.__file__).resolve() == (REPO / "core" / "__init__.py").resolve()


def test_python_m_govops_from_repo_root_and_elsewhere(tmp_path: Path) -> None:
    for cwd in (REPO, tmp_path):
        proc = subprocess.run(
            [sys.executable, "-m", "govops", "--help"], cwd=cwd, capture_output=True, text=True, timeout=60
        )
        assert proc.returncode == 0, proc.stderr
        assert "cloud" in proc.stdout and "net" in proc.stdout


def test_ruff_bans_bare_imports_of_the_folders(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import network\nfrom cli import app\nimport click\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "ruff",
            "check",
            "--config",
            str(REPO / "pyproject.toml"),
            "--select",
            "TID251",
            "--no-cache",
            str(bad),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    for name in ("network", "cli", "click"):
        assert f"`{name}` is banned" in proc.stdout, proc.stdout


def test_no_module_imports_click() -> None:
    for folder in ROOTS.values():
        for path in (REPO / folder).rglob("*.py"):
            text = path.read_text()
            assert "import click" not in text and "from click" not in text, path
