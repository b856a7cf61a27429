"""The analysis notebooks execute headless, top to bottom, on the records of real smoke-scale
runs and on an empty runs folder; any failing cell fails the test (nbclient raises
CellExecutionError). They are committed without outputs.

The kernel is this interpreter: a kernel spec written into a temporary folder on
JUPYTER_PATH runs ``sys.executable -m ipykernel_launcher``, so the notebooks see the same
virtual environment as the tests on any machine, with nothing installed into it.
"""
import json
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
ANALYSIS = ROOT / "analysis"
NOTEBOOKS = ("overview", "ela", "dla", "dia")
KERNEL = "layer-attention-repro"


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    """A kernel spec named KERNEL that launches this very interpreter."""
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "layer-attention-repro (tests)", "language": "python",
    }))
    mp = pytest.MonkeyPatch()
    mp.setenv("JUPYTER_PATH", str(root))
    mp.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    yield KERNEL
    mp.undo()


@pytest.fixture(scope="module")
def smoke_runs(tmp_path_factory):
    from experiments.smoke_runs import make_smoke_runs

    root = tmp_path_factory.getbasetemp() / "analysis-smoke-runs"  # shared with test_analysis.py
    make_smoke_runs(root)
    return root


def execute(name: str, kernel: str, runs: Path, out: Path, monkeypatch) -> nbformat.NotebookNode:
    monkeypatch.setenv("REPRO_RUNS", str(runs))
    monkeypatch.setenv("REPRO_OUT", str(out))
    monkeypatch.setenv("REPRO_BATCH", "8")
    monkeypatch.setenv("REPRO_THREADS", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(ANALYSIS / f"{name}.ipynb", as_version=4)
    NotebookClient(nb, kernel_name=kernel, timeout=300, resources={"metadata": {"path": str(ANALYSIS)}}).execute()
    return nb


def text_of(nb) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", ""))
            data = out.get("data", {})
            parts.append(data.get("text/markdown", "") + data.get("text/plain", ""))
    return "\n".join(parts)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_without_outputs(name):
    nb = nbformat.read(ANALYSIS / f"{name}.ipynb", as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)
    params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1 and "REPRO_RUNS" in params[0].source and '"runs/"' in params[0].source


FIGURES = {"ela": ("ela_fig2a_layer_attention", "ela_fig2b_accuracy_vs_depth", "ela_fig4_epoch_time",
                   "ela_kl_before_after_ebqm"),
           "dla": ("dla_fig2_layer_attention", "dla_fig4_accuracy_vs_depth"),
           "dia": ("dia_fig2_attention_correlation", "dia_fig11_gini_importance", "dia_fig13_stage_gradients",
                   "dia_fig14_no_skip"),
           "overview": ()}


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_on_smoke_runs(name, kernel, smoke_runs, tmp_path, monkeypatch):
    nb = execute(name, kernel, smoke_runs, tmp_path, monkeypatch)
    text = text_of(nb)
    assert "SMOKE RUN — not comparable with the paper" in text
    assert "run records in" in text
    if name != "overview":
        assert (tmp_path / "tables" / f"{name}.{'table3' if name == 'dia' else 'table1'}.md").stat().st_size > 0
        assert "image/png" in json.dumps([c.get("outputs", []) for c in nb.cells])
    else:
        assert (tmp_path / "report.md").exists() and "Claims and verdicts" in (tmp_path / "report.md").read_text()
    for stem in FIGURES[name]:
        for ext in ("png", "pdf"):
            assert (tmp_path / "figures" / f"{stem}.{ext}").stat().st_size > 0


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_without_records(name, kernel, tmp_path, monkeypatch):
    nb = execute(name, kernel, tmp_path / "no-runs-yet", tmp_path / "out", monkeypatch)
    text = text_of(nb)
    assert "not yet run" in text and "SMOKE RUN" not in text
    if name == "overview":
        assert "{'not yet run': " in text
