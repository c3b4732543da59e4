#!/usr/bin/env bash
# hardsearch's developer entry point. Needs only python3 (>= 3.11) on the PATH.
#   ./dev.sh run     set up .venv, then run the main job (the search; args go to python -m hardsearch)
#   ./dev.sh test    set up .venv, chromium and postgresql, then lint (ruff, import-linter) and run every test (args go to pytest)
#   ./dev.sh bench   set up .venv, then run the benchmarks in benchmarks/ (args go to cost_model.py)
#   ./dev.sh setup   only set up .venv
set -euo pipefail
cd "$(dirname "$0")"

VENV=${HARDSEARCH_VENV:-.venv}
PY="$VENV/bin/python"
STAMP="$VENV/.hardsearch-installed"

setup() {
  if [ ! -x "$PY" ]; then
    python3 -m venv "$VENV"
  fi
  # Re-install only when the dependency declarations changed since the last install.
  if [ ! -f "$STAMP" ] || [ pyproject.toml -nt "$STAMP" ] || [ constraints.txt -nt "$STAMP" ]; then
    echo "dev.sh: installing hardsearch and its dependencies into $VENV (log: $VENV/install.log)"
    if ! { "$PY" -m pip install --upgrade pip &&
           "$PY" -m pip install -c constraints.txt -e '.[dev]'; } >"$VENV/install.log" 2>&1; then
      tail -n 40 "$VENV/install.log" >&2
      echo "dev.sh: installation failed; the full log is $VENV/install.log" >&2
      exit 1
    fi
    touch "$STAMP"
  fi
}

# System packages the tests need: Debian's chromium (the HTML report is opened in a real headless
# browser) and postgresql (the tests start their own server on loopback for the multi-worker
# tests). Installed with apt-get when missing and we are root; otherwise say what to install.
system_deps() {
  local missing=()
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || missing+=(postgresql)
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "dev.sh: installing ${missing[*]} with apt-get (log: $VENV/apt.log)"
    if ! { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"; } \
        >"$VENV/apt.log" 2>&1; then
      tail -n 20 "$VENV/apt.log" >&2
      echo "dev.sh: apt-get failed; the full log is $VENV/apt.log" >&2
      exit 1
    fi
  else
    echo "dev.sh: the tests need these Debian packages: ${missing[*]} (sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
}

cmd=${1:-help}
[ $# -gt 0 ] && shift
case "$cmd" in
  setup) setup ;;
  run)
    setup
    # The main job: a multi-objective search of the harmonic space, seeded with HarDNet-68/85,
    # stored in results/harmonic/study.db (re-running resumes it).
    "$PY" -m hardsearch +space=harmonic "$@"
    ;;
  test)
    setup
    system_deps
    "$VENV/bin/ruff" check hardsearch tests benchmarks
    "$VENV/bin/lint-imports" --no-cache --no-logo  # the layers and no-cycles contracts in pyproject.toml
    "$PY" -m pytest "$@"
    ;;
  bench)
    setup
    "$PY" benchmarks/cost_model.py "$@"
    "$PY" benchmarks/proxies.py
    "$PY" benchmarks/search_throughput.py
    system_deps   # the distributed benchmark starts its own PostgreSQL server
    "$PY" benchmarks/distributed.py
    ;;
  *)
    sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p;}' "$0"  # the comment lines at the top: the usage
    if [ "$cmd" != help ]; then
      echo "dev.sh: error: unknown command '$cmd'; allowed: run, test, bench, setup, help" >&2
      exit 2
    fi
    ;;
esac
