"""Counting what makes a GPU step slow, on any machine: host synchronisations, kernel launches, recompilations.

A GPU step is fast when the host queues work ahead and never waits. Three regressions undo that without changing a
result, and all three show on a CPU:
- a host synchronisation (`.item()`, `bool(tensor)`, boolean-mask indexing, `nonzero`): the host waits for the
  device to drain its queue. On a CPU the same calls dispatch the same aten ops (`_local_scalar_dense`, `nonzero`,
  ...), so counting those ops counts the syncs a GPU would suffer, and where in the code they come from.
- kernel launches: each aten op the dispatcher runs is (at least) one kernel on a GPU; their number per step is what
  launch overhead scales with.
- recompilations of a compiled step: each costs seconds to minutes; torch._dynamo counts them.
`tests/test_perf_counters.py` asserts upper bounds on these per step on tiny models.
"""

from __future__ import annotations

import collections
import traceback

from torch.utils._python_dispatch import TorchDispatchMode

# aten ops that read a device value back to the host (or need its size first).
SYNC_OPS = ("aten._local_scalar_dense", "aten.nonzero", "aten.masked_select", "aten.unique", "aten._unique", "aten.is_nonzero",
            "aten.equal", "aten.repeat_interleave.Tensor", "aten.masked_scatter")


def _is_bool_index(func, args) -> bool:
    if not str(func).startswith("aten.index.Tensor"):
        return False
    indices = args[1] if len(args) > 1 else ()
    return any(getattr(i, "dtype", None) is not None and str(i.dtype) in ("torch.bool", "torch.uint8") for i in indices)


class OpCounter(TorchDispatchMode):
    """Counts every aten op dispatched inside the block (forward, backward and optimizer alike), and the host
    synchronisations among them with the source line that caused each (the innermost frame outside torch)."""

    def __init__(self):
        super().__init__()
        self.ops = collections.Counter()
        self.syncs: list[tuple[str, str]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = str(func)
        self.ops[name] += 1
        if name.startswith(SYNC_OPS) or _is_bool_index(func, args):
            self.syncs.append((name, _caller()))
        return func(*args, **(kwargs or {}))

    @property
    def total(self) -> int:
        return sum(self.ops.values())

    def syncs_from(self, fragment: str) -> list[tuple[str, str]]:
        """Syncs whose source file path contains `fragment` (e.g. "xlgen/" for xlgen's own code)."""
        return [s for s in self.syncs if fragment in s[1]]


def _caller() -> str:
    for frame in reversed(traceback.extract_stack()[:-3]):
        path = frame.filename.replace("\\", "/")
        if "/torch/" not in path and "perf/counters.py" not in path:
            return f"{path}:{frame.lineno}"
    return "?"


def dynamo_counts() -> dict[str, int]:
    """Compilations so far in this process: frames compiled, graphs made and recompilations (torch._dynamo)."""
    from torch._dynamo.utils import counters

    return {"frames_ok": int(counters["frames"]["ok"]), "unique_graphs": int(counters["stats"]["unique_graphs"]),
            "recompiles": int(sum(counters["recompiles"].values())) if "recompiles" in counters else 0}
