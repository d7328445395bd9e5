# Generation image for the container backend: ROOT, Pythia 8, Delphes 3.5.0 (DelphesPythia8) and
# MadGraph5_aMC@NLO 3.1.1 with heft/2HDM from containers/install-generation-stack.sh (docs/generation-stack.md),
# plus this project's Python environment (the workflow calls the driver of the checkout it runs from,
# containers/run-container-job, so that code and cards are the repository's). Cluster use: docs/container.md.
# Build here (no registry; a Debian 12 base made with debootstrap, the stack reused): containers/build-image.sh
# Build elsewhere (repository root):  docker build -f containers/generation.Dockerfile -t jetclass2-generation .
#   BASE (build argument): any Debian 12 image with python3 3.11 and pip (default python:3.11-slim-bookworm).
#   The stack, in the order tried:
#   - build/stack-sources/prebuilt/: a prefix built by install-generation-stack.sh (same script, so its
#     .complete stamp matches) on Debian 12; it is moved to /opt/jetclass2-stack and only its setup.sh
#     names the new place (build-image.sh stages the native cache there: the stack is built once);
#   - the tarballs of shared/toolchain/ in build/stack-sources/: built offline;
#   - neither: everything is downloaded.
#   Then: apptainer build containers/jetclass2-generation.sif docker-daemon://jetclass2-generation:latest
# or directly with Apptainer: apptainer build containers/jetclass2-generation.sif containers/generation.def
ARG BASE=python:3.11-slim-bookworm
FROM ${BASE}

# build/stack-source[s] matches nothing when build/stack-sources does not exist
COPY containers/install-generation-stack.sh build/stack-source[s] /opt/stack-build/
# install-generation-stack.sh apt-installs its Debian packages (MadGraph compiles each process with
# g++/gfortran/make at run time), then finds a prebuilt prefix complete and leaves it as it is
RUN set -e; stack=/opt/jetclass2-stack; src=; \
    if [ -f /opt/stack-build/prebuilt/.complete ]; then \
        mv /opt/stack-build/prebuilt "$stack"; \
        old=$(sed -n 's/^JETCLASS2_STACK=//p' "$stack/setup.sh"); sed -i "s|$old|$stack|g" "$stack/setup.sh"; \
    elif ls /opt/stack-build/*.tar.gz >/dev/null 2>&1; then src="--sources /opt/stack-build"; fi; \
    bash /opt/stack-build/install-generation-stack.sh --prefix "$stack" --install-system-deps $src; \
    rm -rf /opt/stack-build /var/lib/apt/lists/* /var/cache/apt/archives/*.deb
# the stack's environment for bash scripts (run-container-job) and for every `docker run` command
ENV BASH_ENV=/opt/jetclass2-stack/setup.sh
ENTRYPOINT ["/bin/bash", "-c", ". /opt/jetclass2-stack/setup.sh && exec \"$@\"", "--"]
CMD ["bash"]

# The project's Python environment (its console scripts, Snakemake, uproot, numba, ...); the sources
# only, not the whole checkout (build/ holds the stack staged above, results*/ the productions).
# PIP_BREAK_SYSTEM_PACKAGES: a Debian base's python3 is "externally managed" (PEP 668); the image is ours.
COPY pyproject.toml README.md Snakefile /opt/jetclass2/
COPY jetclass2 /opt/jetclass2/jetclass2
COPY ntuplizer /opt/jetclass2/ntuplizer
COPY workflow /opt/jetclass2/workflow
COPY config /opt/jetclass2/config
COPY cards /opt/jetclass2/cards
COPY containers /opt/jetclass2/containers
RUN PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --no-cache-dir -e /opt/jetclass2
