"""What users get outside a checkout: a wheel that carries its configs, and `make test` that prints its summary."""

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _clean_env() -> dict:
    """No PYTHONPATH: the installed wheel, not this checkout, must be what runs."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}


def test_packaged_configs_are_the_repository_configs():
    """One copy: the package's configs directory is the repository's configs/, not a second copy that could drift."""
    from xlgen.packaged import configs_dir, packaged_configs

    assert configs_dir().resolve() == (REPO / "configs").resolve()
    names = packaged_configs()
    assert "demo.yaml" in names and "paper/mbart-xquad-full.yaml" in names and "studies/cpu-small.yaml" in names
    assert names == sorted(p.relative_to(REPO / "configs").as_posix() for p in (REPO / "configs").rglob("*.yaml"))


def test_config_arguments_fall_back_to_packaged_configs(tmp_path, monkeypatch):
    from xlgen.errors import XlgenError
    from xlgen.packaged import configs_dir, resolve_config

    monkeypatch.chdir(tmp_path)  # no configs/ here
    assert resolve_config("configs/paper/mbart-xquad-full.yaml") == configs_dir() / "paper" / "mbart-xquad-full.yaml"
    assert resolve_config("paper/mbart-xquad-full.yaml") == configs_dir() / "paper" / "mbart-xquad-full.yaml"
    own = tmp_path / "configs" / "demo.yaml"
    own.parent.mkdir()
    own.write_text("model: {name: embedded}\n")
    assert resolve_config("configs/demo.yaml") == Path("configs/demo.yaml")  # a user's own file wins
    with pytest.raises(XlgenError, match="no such config file.*xlgen configs"):
        resolve_config("paper/nope.yaml")


def test_wheel_installs_and_runs_the_demo_and_paper_configs(tmp_path):
    """Build the wheel from a copy of the sources, install it into a fresh venv (no dependencies: they come from the
    test's own environment through a .pth line, so this stays offline and fast) and load every shipped config from it,
    in a directory with no configs/ of its own."""
    pytest.importorskip("setuptools", reason="building the wheel needs setuptools (the test extra installs it)")
    src = tmp_path / "src-copy"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(REPO / "configs", src / "configs")
    shutil.copytree(REPO / "src", src / "src", symlinks=True, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    dist = tmp_path / "dist"
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q", "-w", str(dist), str(src)],
                       capture_output=True, text=True, env=_clean_env())
    assert r.returncode == 0, r.stderr
    wheel = next(dist.glob("xlgen-*.whl"))

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    r = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--no-index", "-q", str(wheel)],
                       capture_output=True, text=True, env=_clean_env())
    assert r.returncode == 0, r.stderr
    site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], capture_output=True, text=True, check=True).stdout.strip())
    # Dependencies (torch, yaml, ...) from the environment running the tests, after the venv's own packages. A path
    # line in a .pth file does not process that directory's .pth files, so an editable xlgen there stays invisible.
    (site / "zz_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    work = tmp_path / "elsewhere"
    work.mkdir()
    probe = """
import json, sys
from pathlib import Path
import xlgen
from xlgen.config import load_config
from xlgen.demo import DEMO_STUDY
from xlgen.packaged import packaged_configs, resolve_config
from xlgen.study.config import load_study

out = {"xlgen": xlgen.__file__, "demo": str(DEMO_STUDY)}
study, _ = load_study(DEMO_STUDY)  # what `xlgen demo` loads
demo = load_config(study.base)
out["demo_base"] = study.base
out["demo_model"] = demo.model.name
out["demo_steps"] = demo.train.steps
out["paper"] = {}
for name in packaged_configs():
    path = resolve_config("configs/" + name)
    if name.startswith("studies/"):
        study, _ = load_study(path)
        out["paper"][name] = {"base": study.base, "methods": sorted(study.methods)}
    elif name.startswith("transfer/") and not Path(name).name.startswith("base-"):
        from xlgen.transfer.config import load_transfer_study

        study = load_transfer_study(path)
        out["paper"][name] = {"base": study.base}
    else:
        cfg = load_config(path)
        out["paper"][name] = {"model": cfg.model.name, "task": cfg.task.name}
print(json.dumps(out))
"""
    r = subprocess.run([str(py), "-c", probe], capture_output=True, text=True, cwd=work, env=_clean_env())
    assert r.returncode == 0, r.stderr
    import json

    out = json.loads(r.stdout)
    assert Path(out["xlgen"]).is_relative_to(venv), out["xlgen"]  # the wheel's code, not this checkout's
    assert Path(out["demo"]).is_relative_to(venv) and Path(out["demo_base"]).is_relative_to(venv)
    assert out["demo_model"] == "embedded" and out["demo_steps"] == 30
    assert out["paper"]["paper/mbart-xquad-full.yaml"]["model"] == "facebook/mbart-large-50"
    shipped = sorted(p.relative_to(REPO / "configs").as_posix() for p in (REPO / "configs").rglob("*.yaml"))
    assert sorted(out["paper"]) == shipped  # every config of the repository, none left behind by the package-data globs
    for name, info in out["paper"].items():
        if "base" in info:
            assert Path(info["base"]).is_relative_to(venv) and Path(info["base"]).is_file(), (name, info)
    # The console script runs from the venv and lists the packaged configs.
    r = subprocess.run([str(venv / "bin" / "xlgen"), "configs"], capture_output=True, text=True, cwd=work, env=_clean_env())
    assert r.returncode == 0, r.stderr
    assert "paper/mbart-xquad-full.yaml" in json.loads(r.stdout)["configs"]


def test_make_test_prints_the_summary_line(tmp_path):
    """`make test`'s pytest flags, with the project's addopts, still end in pytest's 'N passed' line."""
    recipe = re.search(r"^test:.*\n\t(.+)$", (REPO / "Makefile").read_text(), re.M).group(1)
    args = recipe.split("-m pytest", 1)[1].split()
    (tmp_path / "test_one.py").write_text("def test_one():\n    pass\n")
    r = subprocess.run([sys.executable, "-m", "pytest", *args, "-c", str(REPO / "pyproject.toml"), "--rootdir", str(tmp_path), "-p", "no:cacheprovider", str(tmp_path / "test_one.py")],
                       capture_output=True, text=True, cwd=tmp_path, env=_clean_env())
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"^=*\s*1 passed", r.stdout, re.M), r.stdout
