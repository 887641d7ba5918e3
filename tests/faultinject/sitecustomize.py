"""Loaded by every Python process with tests/faultinject on PYTHONPATH; does nothing unless XLGEN_FAULT is set."""

import os

if os.environ.get("XLGEN_FAULT"):
    import xlgen_faults

    xlgen_faults.install_from_env()
