#!/usr/bin/env bash
# Single entry point of layer-attention-repro.
#
# On first use it creates a virtual environment in .venv and installs the pinned
# requirements (about 1.5 minutes and 5.5 GB: torch's CUDA build), then dispatches the
# subcommand to `python -m experiments.cli`. `./reproduce.sh --help` lists subcommands.
#
# REPRO_PYTHON=/path/to/python uses an existing interpreter instead (e.g. a GPU machine
# or cluster module that already has torch); REPRO_VENV moves the virtual environment.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"

if [[ -n "${REPRO_PYTHON:-}" ]]; then
  PY="$REPRO_PYTHON"
else
  VENV="${REPRO_VENV:-$ROOT/.venv}"
  PY="$VENV/bin/python"
  STAMP="$VENV/.requirements.sha256"
  WANT="$(sha256sum requirements.txt | cut -d' ' -f1)"
  if [[ ! -x "$PY" || ! -f "$STAMP" || "$(cat "$STAMP")" != "$WANT" ]]; then
    echo "[reproduce] setting up $VENV from requirements.txt (first run: ~2 minutes, ~5.5 GB)" >&2
    python3 -m venv "$VENV"
    "$PY" -m pip install --quiet --upgrade pip >&2
    "$PY" -m pip install --quiet -r requirements.txt >&2
    echo "$WANT" > "$STAMP"
    echo "[reproduce] environment ready" >&2
  fi
fi
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
exec "$PY" -m experiments.cli "$@"
