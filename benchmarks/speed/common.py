"""Paths, the tenant, the targets and the counter ranges every part uses."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

# benchmarks/, this package's parent, and the repository.
BENCH = Path(__file__).resolve().parent.parent
ROOT = BENCH.parent
LUA = BENCH / "lua"
SPEC = ROOT / "openapi" / "exobridge.yaml"
DEFAULT_CONFIG = ROOT / "mock_server" / "default_config.yaml"
PRISM_DIR = BENCH / ".prism"
PRISM_BIN = PRISM_DIR / "node_modules" / ".bin" / "prism"

TENANT = "demo"
CREDENTIALS = ("demo_key", "demo_token")
GREENPIN_PATH = f"/v1/tenants/{TENANT}/greenpin"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

# Targets the figures are reported against.
TARGET_CREATE_SHARE = 0.60  # of the ceiling's create throughput
TARGET_GET_SHARE = 0.75  # of the ceiling's get throughput
TARGET_P99_MS = 10.0
TARGET_SCALE_RATIO = 1.3
TARGET_BYTES_PER_ALLOCATION = 1024

# Counter ranges of the create script, one per kind of run, so that no two runs against one
# server ever send the same numbers or transaction_id (each range holds 10 million requests).
OFFSET_WARMUP = 0
OFFSET_MEASURE = 10_000_000
OFFSET_FILL = 20_000_000
# ... and within the measured range, one million per round.
ROUND_OFFSET = 1_000_000
# Deletes sent one by one before the delete runs, to warm that path.
WARM_DELETES = 300

UVICORN_FLAGS = [
    "--host", "127.0.0.1",
    "--loop", "uvloop",
    "--http", "httptools",
    "--workers", "1",
    "--no-access-log",
    "--log-level", "warning",
]  # fmt: skip


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


