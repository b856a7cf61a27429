"""``python -m experiments.bench``: measure and write the JSON records (no reports)."""
import sys

from .cli import main

sys.exit(main())
