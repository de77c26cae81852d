"""The folder prometheus-client's multiprocess mode shares between ``voxgate serve``'s workers.

Each worker writes its metric values to files there and ``/metrics`` in any worker adds them all up. The
folder must be empty when the workers start (old files would count again) and the variable must be set
before any worker imports prometheus-client: ``voxgate serve`` calls this before starting them, and the
workers inherit the environment.
"""

from __future__ import annotations

import os
from pathlib import Path

from voxgate.web.routes.metrics import MULTIPROC_ENV

__all__ = ["prepare_multiprocess_metrics"]


def prepare_multiprocess_metrics(data_dir: Path) -> Path:
    """Set ``PROMETHEUS_MULTIPROC_DIR`` (``data_dir/metrics`` unless already set) to an empty folder."""
    configured = os.environ.get(MULTIPROC_ENV)
    folder = Path(configured) if configured else (data_dir / "metrics").resolve()
    if folder.exists():
        # Only the files prometheus-client writes: a misconfigured variable must not empty another folder.
        for stale in folder.glob("*.db"):
            stale.unlink(missing_ok=True)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.environ[MULTIPROC_ENV] = str(folder)
    return folder
