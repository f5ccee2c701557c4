#!/usr/bin/env bash
# Trains every example spec with a report, exports it and writes its report again with the
# export's status: runs/<example>/report.html. Run from the repository root after setting up
# (pip install -e '.[report]'); Graphviz's `dot` draws the networks when it is installed.
set -euo pipefail
for spec in specs/*.nn; do
    name=$(basename "$spec" .nn)
    .venv/bin/nnc train "$spec" --out "runs/$name" --overwrite --report -q
    .venv/bin/nnc export "runs/$name" -o "runs/$name/model.onnx"
    .venv/bin/nnc report "runs/$name"
done
