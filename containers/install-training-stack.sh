#!/usr/bin/env bash
# Installs the training stack into the image: torch 2.13.0 (the version the project pins), then this
# project with its `train` extra (weaver-core, onnx, onnxruntime); pip keeps the torch build installed
# first because it satisfies the pin.
# Argument: the PyTorch wheel index (default: the CUDA 12.8 builds), or a directory holding a torch 2.13.0
# wheel (pip --find-links; containers/build-image.sh mounts a CPU wheel there for the image it tests).
set -euo pipefail
index=${1:-https://download.pytorch.org/whl/cu128}
if [ -d "$index" ]; then from=(--find-links "$index"); else from=(--index-url "$index"); fi
# a Debian base's python3 is "externally managed" (PEP 668); in an image of its own that is moot
export PIP_BREAK_SYSTEM_PACKAGES=1
python3 -m pip install --no-cache-dir "torch==2.13.0" "${from[@]}"
python3 -m pip install --no-cache-dir -e "/opt/jetclass2[train]"
python3 -c "import torch, weaver; print('torch', torch.__version__, 'CUDA', torch.version.cuda)"
