"""ELA Table 6: the distribution used to reshape the normalised KL values in EBQM."""
from .base import Table, ela_pruning_rows

_MAPPINGS = (("Normal", "cdf=normal", {"mapping": "normal"}),
             ("Gamma", "cdf=gamma", {"mapping": "gamma"}),
             ("Beta", "cdf=beta", {}))

TABLE = Table(
    id="ela.table6",
    title="ELA Table 6: top-1 accuracy (%) with Normal, Gamma and Beta CDFs in EBQM, ELA-ResNet-56/110, CIFAR-100",
    rows=ela_pruning_rows(_MAPPINGS),
    seeds=5,
    seeds_note="n=5 inferred: the five-run statement of Sec. 5.1; the Beta rows equal Table 4's EBQM rows",
    metric="test top-1 (%), mean +- std over the seeds",
    not_run=("Softmax and Sigmoid: named in the caption and Sec. 5.2 but printed without rows; not run "
             "(rows with pruning={'mapping': 'softmax'|'sigmoid'} would add them)",),
    decisions=("Normal and Gamma CDFs take their parameters from the Beta(5,1) moments (models.ebqm defaults); "
               "the paper gives none",
               "Beta rows = ELA Table 1's ELA/CIFAR-100 runs (shared)"),
)
