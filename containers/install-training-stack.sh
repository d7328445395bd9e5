#!/usr/bin/env bash
# Installs the training stack into the image: the CUDA build of torch 2.13.0 (the version the
# project pins), then this project with its `train` extra (weaver-core, onnx, onnxruntime); pip
# keeps the CUDA torch because it satisfies the pin. Argument: the PyTorch wheel index.
set -euo pipefail
index=${1:-https://download.pytorch.org/whl/cu128}
pip install --no-cache-dir "torch==2.13.0" --index-url "$index"
pip install --no-cache-dir -e "/opt/jetclass2[train]"
python -c "import torch, weaver; print('torch', torch.__version__, 'CUDA', torch.version.cuda)"
