"""The run and study configs that ship inside the package, so an installed wheel runs the demo and the paper's configs.

The repository's `configs/` is the one copy: `src/xlgen/configs` is a link to it, which setuptools follows when it
builds a wheel (package data, pyproject.toml). In a checkout `configs/paper/x.yaml` is found where it is; from an
installed wheel the same argument, or `paper/x.yaml`, finds the packaged file.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from xlgen.errors import XlgenError


def configs_dir() -> Path:
    return Path(str(resources.files("xlgen") / "configs"))


def packaged_configs() -> list[str]:
    """Names of the packaged configs relative to the configs directory, e.g. `paper/mbart-xquad-full.yaml`."""
    root = configs_dir()
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*.yaml")) if root.is_dir() else []


def resolve_config(arg: str | Path) -> Path:
    """A config argument as given if that file exists, else the packaged config of that name (with or without a
    leading `configs/`); neither is an error that lists what ships."""
    path = Path(arg).expanduser()
    if path.exists() or path.is_absolute():
        return path
    parts = path.parts[1:] if path.parts[:1] == ("configs",) else path.parts
    if parts:
        cand = configs_dir().joinpath(*parts)
        if cand.is_file():
            return cand
    raise XlgenError(f"{arg}: no such config file (nor a packaged config of that name: `xlgen configs` lists them)")
