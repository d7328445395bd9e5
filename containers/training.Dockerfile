# Training image: CUDA build of torch 2.13.0, weaver-core and this project (data/network configs,
# evaluation). Used by the train/export/evaluate rules when `training.container` is set.
# Build (repository root):  docker build -f containers/training.Dockerfile -t jetclass2-training .
#   then                    apptainer build containers/jetclass2-training.sif docker-daemon://jetclass2-training:latest
# or directly with Apptainer: apptainer build containers/jetclass2-training.sif containers/training.def
FROM python:3.11-slim-bookworm

ARG TORCH_INDEX=https://download.pytorch.org/whl/cu128
COPY . /opt/jetclass2
RUN bash /opt/jetclass2/containers/install-training-stack.sh "$TORCH_INDEX"
