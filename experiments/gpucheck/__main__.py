import sys

from .check import run

sys.exit(run().rc)
