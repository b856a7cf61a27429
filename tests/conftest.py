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


# --------------------------------------------------------------------------- pytest-xdist groups
# ./reproduce.sh test runs the suite in REPRO_TEST_WORKERS (2) processes with --dist loadgroup: all
# tests of one xdist_group run in one process, one after the other; the other tests go one by one
# to whichever process is free. The groups:
#   slurm: tests/test_slurm_*.py. They share the local one-node cluster; side by side their jobs
#     queue behind each other's and the tests' waits time out. At ~6 min the longest group: it is
#     sent first, so the other process runs everything else meanwhile;
#   analysis-smoke-runs: the tests on the smoke runs that test_analysis.py and test_notebooks.py
#     build into one folder of the base temp directory (which is per process under xdist);
#   test_<file>: the tests of a file that use one of its module-scoped fixtures (built once per
#     process: the CPU gpucheck, a benchmark, real runs), e.g. test_tables' smoke-table tests,
#     whose later tables find earlier tables' runs done in the shared folder.
# UNGROUPED_FIXTURES: module fixtures cheaper than keeping their (long) tests in one process.
SHARED_FIXTURE_GROUPS = {"smoke_runs": "analysis-smoke-runs"}
UNGROUPED_FIXTURES = {("test_engine.py", "fmnist_root"),     # 0.3 s gunzip; its tests train for ~2 min together
                      ("test_notebooks.py", "kernel")}       # a kernel spec file; each test starts its own kernel


def xdist_group(item) -> str | None:
    """The xdist group of a test (above), None for a test any process may run."""
    if item.path.name.startswith("test_slurm_"):
        return "slurm"
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return None
    own = []
    for name in info.names_closure:
        for fdef in info.name2fixturedefs.get(name, ()):
            if fdef.scope == "function" or not fdef.baseid.endswith(".py"):  # pytest's own, conftest's
                continue
            if name in SHARED_FIXTURE_GROUPS:
                return SHARED_FIXTURE_GROUPS[name]
            if (item.path.name, name) not in UNGROUPED_FIXTURES:
                own.append(name)
    return item.path.stem if own else None


def _group_names(item) -> list[str]:
    """The names of a test's xdist_group marks, as xdist reads them."""
    marks = item.iter_markers("xdist_group")
    return sorted({str(m.args[0] if m.args else m.kwargs.get("name", "default")) for m in marks})


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_collection_modifyitems(config, items):
    # before every other implementation, xdist's included (it reads the marks)
    for item in items:
        if not item.get_closest_marker("xdist_group") and (group := xdist_group(item)):
            item.add_marker(pytest.mark.xdist_group(group))
    if hasattr(config, "workerinput"):
        # an xdist worker: the SLURM group first, then the other groups, then single tests (with
        # --no-loadscope-reorder, the test command's default, xdist hands them out in this order)
        items.sort(key=lambda item: 2 if not (g := _group_names(item)) else 0 if g == ["slurm"] else 1)
    result = yield
    if getattr(config.option, "loadgroup", False):
        # xdist's hook tells the scheduler a test's group by appending "@<group>" to its node id,
        # through the attribute pytest < 9.2 kept the id in; pytest 9.2 keeps a structured id
        # (Node._id), so the suffix is lost and loadgroup silently groups nothing
        # (pytest-dev/pytest-xdist#1386, fix proposed in #1388). Append it here when it is missing.
        from _pytest.nodeid import NodeId

        for item in items:
            suffix = "@" + "_".join(_group_names(item))
            if suffix != "@" and not item.nodeid.endswith(suffix):
                item._id = NodeId.parse(item.nodeid + suffix)
    return result


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
