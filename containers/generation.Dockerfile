# Generation image for the container backend: ROOT, Pythia 8, Delphes 3.5.0 (DelphesPythia8) and
# MadGraph5_aMC@NLO 3.1.1 with heft/2HDM from containers/install-generation-stack.sh (docs/generation-stack.md),
# plus this project's console scripts (render-cards, and the job driver run-container-job; the workflow
# calls the driver of the checkout it runs from, containers/run-container-job, so that code and cards
# are the repository's). Cluster use: docs/container.md.
# Build (repository root):  docker build -f containers/generation.Dockerfile -t jetclass2-generation .
#   Offline: first copy the tarballs of shared/toolchain/ (optionally also the pythia8mc sdist and the
#   ROOT wheel) into build/stack-sources/; without that directory everything is downloaded.
#   Then: apptainer build containers/jetclass2-generation.sif docker-daemon://jetclass2-generation:latest
# or directly with Apptainer: apptainer build containers/jetclass2-generation.sif containers/generation.def
FROM python:3.11-slim-bookworm

# build/stack-source[s] matches nothing when build/stack-sources does not exist
COPY containers/install-generation-stack.sh build/stack-source[s] /opt/stack-build/
RUN src=; if ls /opt/stack-build/*.tar.gz >/dev/null 2>&1; then src="--sources /opt/stack-build"; fi; \
    bash /opt/stack-build/install-generation-stack.sh --prefix /opt/jetclass2-stack --install-system-deps $src \
    && rm -rf /opt/stack-build
# the stack's environment for bash scripts (run-container-job) and for every `docker run` command
ENV BASH_ENV=/opt/jetclass2-stack/setup.sh
ENTRYPOINT ["/bin/bash", "-c", ". /opt/jetclass2-stack/setup.sh && exec \"$@\"", "--"]
CMD ["bash"]

COPY . /opt/jetclass2
RUN pip install --no-cache-dir -e /opt/jetclass2
