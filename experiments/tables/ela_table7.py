"""ELA Table 7 (appendix): quantile-mapping algorithms GQM, EQM and EBQM."""
from .base import Table, ela_pruning_rows

_QM = (("GQM", "qm=gqm", {"mapping": "gqm"}),
       ("EQM", "qm=eqm", {"mapping": "eqm"}),
       ("EBQM", "qm=ebqm", {}))

TABLE = Table(
    id="ela.table7",
    title="ELA Table 7: top-1 accuracy (%) of quantile-mapping algorithms, ELA-ResNet-56/110, CIFAR-100",
    rows=ela_pruning_rows(_QM),
    seeds=5,
    seeds_note="n=5 inferred (appendix; the five-run statement is in Sec. 5.1); EBQM rows equal Table 4's",
    metric="test top-1 (%), mean +- std over the seeds",
    decisions=("GQM / EQM: Appendix A's Algorithm 2 with a Gamma / exponential target replaces EBQM's line 6 "
               "(models.ebqm mappings 'gqm', 'eqm')",
               "EBQM rows = ELA Table 1's ELA/CIFAR-100 runs (shared)"),
)
