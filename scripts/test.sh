#!/usr/bin/env bash
# The README's test command: install into .venv, lint, type-check, run every test.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check -e ".[dev]" 2>&1 \
  | grep -v "is ignored: it is neither a file nor a directory" || true
.venv/bin/python -c "import tutorpulse" # fails loudly if the install above did not work

lint_paths=(src tests)
[ -d benchmarks ] && lint_paths+=(benchmarks)
.venv/bin/ruff check "${lint_paths[@]}"
.venv/bin/ruff format --check "${lint_paths[@]}"
.venv/bin/mypy src

.venv/bin/pytest -p no:cacheprovider "$@"
