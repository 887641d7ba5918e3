"""Where a study's runs execute: in this process one after another, or as Ray tasks on a local or remote cluster.

A job is a resolved run config and its run directory. `run_job` is what executes it anywhere: a finished run is not
redone, an interrupted one resumes from its checkpoint, and a failure is recorded (`failed.json`) and returned, never
raised, so one bad run does not stop a study.
"""

from __future__ import annotations

import gc
import os
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from xlgen.io import atomic_write_json, read_json


@dataclass
class Job:
    name: str
    run_dir: str
    config: dict  # the resolved run config, as plain data
    # "module:function" called as function(config, run_dir, progress) -> results dict (written to results.json by
    # it, last); None: a training run (`xlgen.train.train`). Lets other kinds of work (a transfer-study cell) use
    # the same executors, resume rule and failure records.
    runner: str | None = None


def finished(run_dir: str | Path) -> bool:
    return (Path(run_dir) / "results.json").exists()


def run_job(job: Job, progress: bool = False) -> dict:
    from xlgen.config import RunConfig, from_dict
    from xlgen.train import train

    run_dir = Path(job.run_dir)
    if finished(run_dir):
        return _result(read_json(run_dir / "results.json"), resumed=False, executed=False)
    t0 = time.time()
    timing = {"started": t0, "pid": os.getpid()}
    try:
        if job.runner:
            import importlib

            module, _, fn = job.runner.partition(":")
            results = getattr(importlib.import_module(module), fn)(job.config, run_dir, progress)
            (run_dir / "failed.json").unlink(missing_ok=True)
            return {"status": "done", "results": results, "resumed": False, "executed": True, "seconds": time.time() - t0}
        resumable = (run_dir / "config.yaml").exists() and (run_dir / "checkpoints").exists()
        if resumable:
            results = train(resume_dir=run_dir, progress=progress)
        else:
            results = train(from_dict(RunConfig, job.config), progress=progress)
        (run_dir / "failed.json").unlink(missing_ok=True)
        return _result(results, resumed=resumable, executed=True, seconds=time.time() - t0, **timing)
    except Exception as e:  # any failure of one run is data for the study, not a crash of it
        error = f"{type(e).__name__}: {e}"
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(run_dir / "failed.json", {"error": error, "traceback": traceback.format_exc()})
        return {"status": "failed", "error": error, "executed": True, "seconds": time.time() - t0, **timing}
    finally:
        gc.collect()


def crashed(e: BaseException) -> dict:
    """The process running a job died (killed, out of memory, node lost): unlike a run that failed on its own, this says
    nothing about the run's settings, so the study driver takes no decision on it and asks for a rerun, which resumes
    the run from its last checkpoint (`xlgen.study.runner`)."""
    return {"status": "crashed", "error": f"{type(e).__name__}: {e}", "executed": True}


def _result(results: dict, **info) -> dict:
    """A finished run's result for the driver: done, or diverged (a failed grid point, with its error)."""
    if results.get("status") == "diverged":
        return {"status": "diverged", "error": results.get("error", "diverged"), "results": results, **info}
    return {"status": "done", "results": results, **info}


class LocalExecutor:
    """Runs on this machine: one after another in this process (the default, and all a CPU needs), or
    `parallel_runs` at a time, each in a process of its own sharing the device (a GPU that one run cannot fill)."""

    def __init__(self, cfg, progress: bool = True):
        self.progress = progress
        self.parallel = max(1, int(getattr(cfg, "parallel_runs", 1) or 1))
        self.pool = None  # started on first use, kept across the protocol's rounds

    def run(self, jobs: list[Job], on_done: Callable[[Job, dict], None]) -> None:
        if self.parallel == 1:
            for job in jobs:
                on_done(job, run_job(job, progress=self.progress))
            return
        import multiprocessing
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

        if self.pool is None:
            # spawn, not fork: a forked child of a process that has touched CUDA cannot use it. Each worker takes an
            # even share of the CPU threads so k runs do not oversubscribe the cores.
            threads = max(1, (os.cpu_count() or 1) // self.parallel)
            self.pool = ProcessPoolExecutor(self.parallel, mp_context=multiprocessing.get_context("spawn"), initializer=_worker_init, initargs=(threads,))
        pending = {self.pool.submit(run_job, job, False): job for job in jobs}
        broken = False
        while pending:
            done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
            for future in done:
                job = pending.pop(future)
                try:
                    result = future.result()
                except Exception as e:  # the worker died (OOM kill): record, go on with a fresh pool next round
                    result = crashed(e)
                    broken = True
                on_done(job, result)
        if broken:
            self.close()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()
            self.pool = None


def _worker_init(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


class RayExecutor:
    """Each run a Ray task asking for its resources (`cpus_per_run`, `gpus_per_run`): a local cluster started on
    demand, or an existing one by address. Results are collected as tasks finish."""

    def __init__(self, cfg, progress: bool = True):
        try:
            import ray
        except ImportError:
            from xlgen.errors import XlgenError

            raise XlgenError("executor.kind=ray needs Ray: pip install ray") from None
        self.ray = ray
        self.cfg = cfg
        self.started_here = False
        if not ray.is_initialized():
            src = str(Path(__file__).resolve().parents[2])
            env = {"env_vars": {"PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}}
            kwargs = dict(runtime_env=env, include_dashboard=False, logging_level="ERROR", log_to_driver=progress)
            if cfg.address:
                ray.init(address=cfg.address, **kwargs)
            else:
                ray.init(num_cpus=cfg.num_cpus, **kwargs)
                self.started_here = True
        self.remote = ray.remote(_ray_run_job).options(num_cpus=cfg.cpus_per_run, num_gpus=cfg.gpus_per_run, max_retries=0)

    def run(self, jobs: list[Job], on_done: Callable[[Job, dict], None]) -> None:
        pending = {self.remote.remote(job): job for job in jobs}
        while pending:
            ready, _ = self.ray.wait(list(pending), num_returns=1)
            for ref in ready:
                job = pending.pop(ref)
                try:
                    result = self.ray.get(ref)
                except Exception as e:  # the worker died (OOM kill, node lost): record, go on
                    result = crashed(e)
                on_done(job, result)

    def close(self) -> None:
        if self.started_here:
            self.ray.shutdown()


def _ray_run_job(job: Job) -> dict:
    # Workers share the CPU with each other: one thread each avoids oversubscription (Ray sets OMP_NUM_THREADS to
    # the task's num_cpus; torch reads it at import).
    return run_job(job, progress=False)


def make_executor(cfg, progress: bool = True):
    return {"local": LocalExecutor, "ray": RayExecutor}[cfg.kind](cfg, progress=progress)


def invocation_id() -> str:
    return f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use `xlgen study`")
