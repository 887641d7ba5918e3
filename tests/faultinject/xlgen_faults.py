"""Fault injection for tests: count the calls of chosen functions across every process of a run, and at the Nth call
SIGKILL the calling process (a real `kill -9`: no cleanup, no atexit) or raise OSError(ENOSPC) (a full disk).

Installed by `sitecustomize.py` beside it in every Python process started with this directory on PYTHONPATH and
XLGEN_FAULT set (a JSON spec), so it reaches the study driver, `xlgen train` subprocesses and Ray workers alike;
installed in-process by `installed(spec)` to count the calls of a reference run.

    {"targets": ["os:replace", "xlgen.io:append_jsonl"],   # module:function, patched on the module
     "match": "/tmp/x",           # count only calls with a path argument containing this (a run directory)
     "counter": "/tmp/x/count",   # shared across processes (file lock)
     "action": "count" | "kill" | "enospc",
     "at": 7,                     # act on the 7th counted call
     "role": "any" | "ray-worker"}
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import importlib
import json
import os
import signal
import sys


def _next_count(counter: str) -> int:
    with open(counter, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        fh.seek(0)
        n = int(fh.read().strip() or 0) + 1
        fh.seek(0)
        fh.truncate()
        fh.write(str(n))
        fh.flush()
    return n


def count(counter: str) -> int:
    try:
        with open(counter) as fh:
            return int(fh.read().strip() or 0)
    except FileNotFoundError:
        return 0


def _role_matches(role: str) -> bool:
    argv = " ".join(getattr(sys, "orig_argv", sys.argv))
    if role == "ray-worker":
        return "default_worker.py" in argv
    return True


def _wrap(fn, spec: dict):
    def wrapper(*args, **kwargs):
        paths = [str(a) for a in (*args, *kwargs.values()) if isinstance(a, (str, os.PathLike))]
        if not spec.get("match") or any(spec["match"] in p for p in paths):
            n = _next_count(spec["counter"])
            if n == spec.get("at"):
                if spec["action"] == "kill":
                    os.kill(os.getpid(), signal.SIGKILL)
                if spec["action"] == "enospc":
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), paths[0] if paths else None)
        return fn(*args, **kwargs)

    wrapper.__wrapped_fault__ = fn
    return wrapper


def install(spec: dict) -> list:
    """Patch every target; returns what `uninstall` needs to undo it."""
    undo = []
    if not _role_matches(spec.get("role", "any")):
        return undo
    for target in spec["targets"]:
        mod_name, attr = target.split(":")
        mod = importlib.import_module(mod_name)
        original = getattr(mod, attr)
        wrapped = _wrap(original, spec)
        # Also where it was imported by name (`from xlgen.io import append_jsonl`) before this ran.
        holders = [mod] + [m for name, m in list(sys.modules.items()) if name.startswith("xlgen") and m is not mod and getattr(m, attr, None) is original]
        for holder in holders:
            setattr(holder, attr, wrapped)
            undo.append((holder, attr, original))
    return undo


def uninstall(undo: list) -> None:
    for mod, attr, original in reversed(undo):
        setattr(mod, attr, original)


@contextlib.contextmanager
def installed(spec: dict):
    undo = install(spec)
    try:
        yield
    finally:
        uninstall(undo)


def install_from_env() -> None:
    raw = os.environ.get("XLGEN_FAULT")
    if raw:
        install(json.loads(raw))
