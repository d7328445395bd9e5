# Generation image for the container backend: MadGraph5_aMC@NLO, LHAPDF + NNPDF3.1, Pythia 8 with
# HepMC, Delphes (the JetClass-II card is in cards/delphes) and the 2HDM UFO model, plus this
# project's console scripts (render-cards) and the job driver run-container-job.
# Build (repository root):  docker build -f containers/generation.Dockerfile -t jetclass2-generation .
#   then                    apptainer build containers/jetclass2-generation.sif docker-daemon://jetclass2-generation:latest
# or directly with Apptainer: apptainer build containers/jetclass2-generation.sif containers/generation.def
FROM python:3.11-slim-bookworm

COPY containers/install-generation-stack.sh /opt/install-generation-stack.sh
RUN bash /opt/install-generation-stack.sh
ENV ROOTSYS=/opt/root \
    PATH=/opt/mg5amc/bin:/opt/delphes:/opt/pythia8/bin:/opt/lhapdf/bin:/opt/root/bin:$PATH \
    LD_LIBRARY_PATH=/opt/pythia8/lib:/opt/lhapdf/lib:/opt/hepmc/lib:/opt/root/lib \
    PYTHIA8DATA=/opt/pythia8/share/Pythia8/xmldoc

COPY . /opt/jetclass2
RUN pip install --no-cache-dir -e /opt/jetclass2 && install -m 755 /opt/jetclass2/containers/run-container-job /usr/local/bin/
