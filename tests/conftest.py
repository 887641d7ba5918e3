import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never touch the hub
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def shared_data_dir() -> Path:
    env = os.environ.get("XLGEN_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    d = shared_data_dir()
    if not (d / "xquad").is_dir():
        pytest.skip(f"shared data not found at {d} (set XLGEN_DATA)")
    return d


@pytest.fixture(autouse=True, scope="session")
def _one_thread_for_tiny_models():
    """Tiny models spend their time in thread synchronisation, not arithmetic: one thread is several times faster on
    a small CPU (and tens of times when another process shares it). Tests of the real model ask for more."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def all_threads():
    """The cores this test process may use: all of them, or its share when pytest-xdist runs several workers (more
    threads than cores, across processes, is the tenfold slowdown above)."""
    import torch

    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    before = torch.get_num_threads()
    torch.set_num_threads(max((os.cpu_count() or 1) // workers, 1))
    yield
    torch.set_num_threads(before)
