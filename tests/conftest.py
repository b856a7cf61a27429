import os
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# one thread by default: on a 2-core machine that also runs SLURM jobs and subprocesses
# two threads per process oversubscribe the cores (a tiny step measured 4.2 s vs 0.09 s)
torch.set_num_threads(int(os.environ.get("REPRO_TEST_THREADS", "1")))


FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")
SLURM_SKIP = "needs a running SLURM cluster: slurm/local-cluster.sh start, then REPRO_SLURM_TESTS=1 ./reproduce.sh test"


def pytest_configure(config):
    config.addinivalue_line("markers", "fashion_mnist: needs Debian's dataset-fashion-mnist (fails, never skips, "
                                       "without it: ./reproduce.sh test installs it)")


def pytest_runtest_setup(item):
    """A test that needs Fashion-MNIST fails with the reason when it is missing: the test
    command installs it, so a missing dataset is a broken setup, not a skip."""
    if item.get_closest_marker("fashion_mnist") and not FASHION_MNIST.is_file():
        pytest.fail(f"Debian's dataset-fashion-mnist is not installed ({FASHION_MNIST} missing): "
                    "run ./reproduce.sh test (it installs it as root) or apt-get install dataset-fashion-mnist",
                    pytrace=False)


def pytest_terminal_summary(terminalreporter):
    """Say which tests were skipped and why, in one block above pytest's closing line: only the
    SLURM tests may skip (no local cluster); anything else skipping is flagged."""
    skipped = terminalreporter.stats.get("skipped", [])
    if not skipped:
        return
    slurm = [r for r in skipped if "test_slurm" in r.nodeid]
    other = [r for r in skipped if "test_slurm" not in r.nodeid]
    tr = terminalreporter
    tr.section("skipped tests")
    if slurm:
        tr.write_line(f"{len(slurm)} SLURM tests skipped: {SLURM_SKIP}")
    for r in other:
        tr.write_line(f"UNEXPECTED SKIP {r.nodeid}: {r.longrepr[-1] if isinstance(r.longrepr, tuple) else r.longrepr}")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
