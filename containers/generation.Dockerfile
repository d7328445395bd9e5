# Generation image for the container backend: MadGraph5_aMC@NLO, LHAPDF + NNPDF3.1, Pythia 8 with
# HepMC, Delphes (with the JetClass-II card from cards/delphes) and the 2HDM UFO model.
# Build:  docker build -f containers/generation.Dockerfile -t jetclass2-generation .
#         apptainer build containers/jetclass2-generation.sif docker-daemon://jetclass2-generation:latest
FROM python:3.11-slim-bookworm

ARG MG5_VERSION=3.5.5
ARG LHAPDF_VERSION=6.5.4
ARG PYTHIA_VERSION=8313
ARG HEPMC_VERSION=2.06.11
ARG DELPHES_VERSION=3.5.1
ARG ROOT_VERSION=6.30.06

RUN apt-get update && apt-get install -y --no-install-recommends \
        build-essential gfortran cmake wget rsync tcl-dev libx11-dev libxpm-dev libxft-dev libxext-dev \
        libssl-dev zlib1g-dev bc && rm -rf /var/lib/apt/lists/*

WORKDIR /opt
# ROOT (binary release) for Delphes
RUN wget -q https://root.cern/download/root_v${ROOT_VERSION}.Linux-ubuntu22.04-x86_64-gcc11.4.tar.gz \
    && tar xzf root_*.tar.gz && rm root_*.tar.gz
ENV ROOTSYS=/opt/root PATH=/opt/root/bin:$PATH LD_LIBRARY_PATH=/opt/root/lib

# HepMC2, LHAPDF with NNPDF3.1 NNLO, Pythia 8
RUN wget -q https://hepmc.web.cern.ch/hepmc/releases/hepmc${HEPMC_VERSION}.tgz && tar xzf hepmc*.tgz \
    && cmake -S HepMC-${HEPMC_VERSION} -B hepmc-build -Dmomentum:STRING=GEV -Dlength:STRING=MM -DCMAKE_INSTALL_PREFIX=/opt/hepmc \
    && cmake --build hepmc-build -j4 --target install && rm -rf hepmc*
RUN wget -q https://lhapdf.hepforge.org/downloads/?f=LHAPDF-${LHAPDF_VERSION}.tar.gz -O lhapdf.tgz && tar xzf lhapdf.tgz \
    && cd LHAPDF-${LHAPDF_VERSION} && ./configure --prefix=/opt/lhapdf --disable-python && make -j4 install \
    && cd .. && rm -rf LHAPDF-* lhapdf.tgz \
    && wget -q http://lhapdfsets.web.cern.ch/lhapdfsets/current/NNPDF31_nnlo_as_0118_mc_hessian_pdfas.tar.gz -O - | tar xz -C /opt/lhapdf/share/LHAPDF
RUN wget -q https://pythia.org/download/pythia83/pythia${PYTHIA_VERSION}.tgz && tar xzf pythia*.tgz \
    && cd pythia${PYTHIA_VERSION} && ./configure --prefix=/opt/pythia8 --with-hepmc2=/opt/hepmc --with-lhapdf6=/opt/lhapdf \
    && make -j4 install && cd .. && rm -rf pythia*
ENV PATH=/opt/pythia8/bin:/opt/lhapdf/bin:$PATH LD_LIBRARY_PATH=/opt/pythia8/lib:/opt/lhapdf/lib:/opt/hepmc/lib:$LD_LIBRARY_PATH \
    PYTHIA8DATA=/opt/pythia8/share/Pythia8/xmldoc

# Delphes with the Pythia 8 reader (DelphesPythia8)
RUN wget -q http://cp3.irmp.ucl.ac.be/downloads/Delphes-${DELPHES_VERSION}.tar.gz && tar xzf Delphes-*.tar.gz \
    && cd Delphes-${DELPHES_VERSION} && HAS_PYTHIA8=true PYTHIA8=/opt/pythia8 make -j4 && cd .. && mv Delphes-${DELPHES_VERSION} delphes
ENV PATH=/opt/delphes:$PATH

# MadGraph5_aMC@NLO with the 2HDM UFO model
RUN wget -q https://launchpad.net/mg5amcnlo/3.0/3.5.x/+download/MG5_aMC_v${MG5_VERSION}.tar.gz && tar xzf MG5_aMC_*.tar.gz \
    && rm MG5_aMC_*.tar.gz && mv MG5_aMC_v* mg5amc \
    && echo "import model 2HDM_NLO" > /tmp/m.mg5 && /opt/mg5amc/bin/mg5_aMC /tmp/m.mg5
ENV PATH=/opt/mg5amc/bin:$PATH

# Our console scripts (render-cards) and the job driver
COPY . /opt/jetclass2
RUN pip install --no-cache-dir -e /opt/jetclass2 && install -m 755 /opt/jetclass2/containers/run-container-job /usr/local/bin/
