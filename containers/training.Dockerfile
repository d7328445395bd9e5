# Training image: torch 2.13.0, weaver-core and this project (data/network configs, evaluation). Used by
# the train/export/evaluate rules when `training.container` is set.
# Build here (no registry; Debian 12 base made with debootstrap, a CPU torch wheel): containers/build-image.sh
# Build elsewhere (repository root):  docker build -f containers/training.Dockerfile -t jetclass2-training .
#   BASE: any Debian 12 image with python3 3.11 and pip (default python:3.11-slim-bookworm); TORCH_INDEX:
#   the PyTorch index (default the CUDA 12.8 builds) or a directory with a torch wheel (bind-mounted).
#   then                    apptainer build containers/jetclass2-training.sif docker-daemon://jetclass2-training:latest
# or directly with Apptainer: apptainer build containers/jetclass2-training.sif containers/training.def
ARG BASE=python:3.11-slim-bookworm
FROM ${BASE}

ARG TORCH_INDEX=https://download.pytorch.org/whl/cu128
# the sources only, not the whole checkout (build/, results*/)
COPY pyproject.toml README.md Snakefile /opt/jetclass2/
COPY jetclass2 /opt/jetclass2/jetclass2
COPY ntuplizer /opt/jetclass2/ntuplizer
COPY workflow /opt/jetclass2/workflow
COPY config /opt/jetclass2/config
COPY cards /opt/jetclass2/cards
COPY containers /opt/jetclass2/containers
RUN bash /opt/jetclass2/containers/install-training-stack.sh "$TORCH_INDEX"
