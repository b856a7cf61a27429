#!/usr/bin/env bash
# Single entry point of layer-attention-repro.
#
# On first use it creates a virtual environment in .venv and installs the pinned
# requirements (about 1.5 minutes and 5.5 GB: torch's CUDA build), then dispatches the
# subcommand to `python cli.py`. `./reproduce.sh --help` lists subcommands.
#
# REPRO_PYTHON=/path/to/python uses an existing interpreter instead (e.g. a GPU machine
# or cluster module that already has torch); REPRO_VENV moves the virtual environment.
#
# Debian packages the command needs are installed first, before the environment:
# dataset-fashion-mnist (the offline dataset of smoke runs and of the tests) for `test`,
# `setup` and smoke runs, rsync (the slurm executor's code snapshot) for `test`, `setup` and
# slurm launches. As root they are installed with apt-get; otherwise the command stops with
# the one line to run. `./reproduce.sh setup` installs everything and exits (.ci/run uses it).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"

system_packages() {
  local want_data=0 want_rsync=0 arg missing=()
  case "${1:-}" in test|setup) want_data=1; want_rsync=1 ;; esac
  for arg in "$@"; do
    case "$arg" in *smoke*) want_data=1 ;; slurm|--executor=slurm) want_rsync=1 ;; esac
  done
  # (REPRO_FASHION_MNIST_FILE: another path to check, for the tests of this step)
  ((want_data)) && [[ ! -f "${REPRO_FASHION_MNIST_FILE:-/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz}" ]] \
    && missing+=(dataset-fashion-mnist)
  ((want_rsync)) && ! command -v rsync >/dev/null 2>&1 && missing+=(rsync)
  ((${#missing[@]})) || return 0
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "[reproduce] installing Debian packages: ${missing[*]}" >&2
    if DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null \
       && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
      return 0
    fi
    echo "reproduce.sh: apt-get install ${missing[*]} failed; install them and retry" >&2
    exit 1
  fi
  echo "reproduce.sh: '${1:-}' needs Debian packages ${missing[*]}: run 'sudo apt-get install -y ${missing[*]}' and retry" >&2
  exit 1
}
system_packages "$@"

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
if [[ "${1:-}" == setup ]]; then
  echo "[reproduce] system packages and environment ready" >&2
  exit 0
fi
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
exec "$PY" "$ROOT/cli.py" "$@"
