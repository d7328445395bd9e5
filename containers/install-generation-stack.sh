#!/usr/bin/env bash
# Installs the generation stack of the container backend into /opt: ROOT (binary release),
# HepMC2, LHAPDF with NNPDF3.1 NNLO, Pythia 8 (with HepMC2 and LHAPDF), Delphes with its Pythia 8
# reader, MadGraph5_aMC@NLO with the 2HDM UFO model. Shared by generation.Dockerfile and
# generation.def so that both images are built by the same steps. Versions can be overridden.
set -euo pipefail
MG5_VERSION=${MG5_VERSION:-3.5.5}
LHAPDF_VERSION=${LHAPDF_VERSION:-6.5.4}
PYTHIA_VERSION=${PYTHIA_VERSION:-8313}
HEPMC_VERSION=${HEPMC_VERSION:-2.06.11}
DELPHES_VERSION=${DELPHES_VERSION:-3.5.1}
ROOT_VERSION=${ROOT_VERSION:-6.30.06}
JOBS=${JOBS:-4}

apt-get update
apt-get install -y --no-install-recommends build-essential gfortran cmake wget rsync tcl-dev libx11-dev \
    libxpm-dev libxft-dev libxext-dev libssl-dev zlib1g-dev bc
rm -rf /var/lib/apt/lists/*
cd /opt

echo "== ROOT ${ROOT_VERSION}"
wget -q "https://root.cern/download/root_v${ROOT_VERSION}.Linux-ubuntu22.04-x86_64-gcc11.4.tar.gz" -O root.tgz
tar xzf root.tgz && rm root.tgz
export ROOTSYS=/opt/root PATH=/opt/root/bin:$PATH LD_LIBRARY_PATH=/opt/root/lib

echo "== HepMC ${HEPMC_VERSION}"
wget -q "https://hepmc.web.cern.ch/hepmc/releases/hepmc${HEPMC_VERSION}.tgz" -O hepmc.tgz && tar xzf hepmc.tgz
cmake -S "HepMC-${HEPMC_VERSION}" -B hepmc-build -Dmomentum:STRING=GEV -Dlength:STRING=MM -DCMAKE_INSTALL_PREFIX=/opt/hepmc
cmake --build hepmc-build -j"$JOBS" --target install
rm -rf hepmc.tgz "HepMC-${HEPMC_VERSION}" hepmc-build

echo "== LHAPDF ${LHAPDF_VERSION} + NNPDF3.1 NNLO (LHAPDF id 315000 family)"
wget -q "https://lhapdf.hepforge.org/downloads/?f=LHAPDF-${LHAPDF_VERSION}.tar.gz" -O lhapdf.tgz && tar xzf lhapdf.tgz
(cd "LHAPDF-${LHAPDF_VERSION}" && ./configure --prefix=/opt/lhapdf --disable-python && make -j"$JOBS" install)
rm -rf lhapdf.tgz "LHAPDF-${LHAPDF_VERSION}"
wget -q http://lhapdfsets.web.cern.ch/lhapdfsets/current/NNPDF31_nnlo_as_0118_mc_hessian_pdfas.tar.gz -O - \
    | tar xz -C /opt/lhapdf/share/LHAPDF

echo "== Pythia ${PYTHIA_VERSION}"
wget -q "https://pythia.org/download/pythia83/pythia${PYTHIA_VERSION}.tgz" -O pythia.tgz && tar xzf pythia.tgz
(cd "pythia${PYTHIA_VERSION}" && ./configure --prefix=/opt/pythia8 --with-hepmc2=/opt/hepmc --with-lhapdf6=/opt/lhapdf \
    && make -j"$JOBS" install)
rm -rf pythia.tgz "pythia${PYTHIA_VERSION}"

echo "== Delphes ${DELPHES_VERSION} with DelphesPythia8"
wget -q "http://cp3.irmp.ucl.ac.be/downloads/Delphes-${DELPHES_VERSION}.tar.gz" -O delphes.tgz && tar xzf delphes.tgz
(cd "Delphes-${DELPHES_VERSION}" && HAS_PYTHIA8=true PYTHIA8=/opt/pythia8 make -j"$JOBS")
mv "Delphes-${DELPHES_VERSION}" delphes && rm delphes.tgz

echo "== MadGraph5_aMC@NLO ${MG5_VERSION} + 2HDM_NLO"
wget -q "https://launchpad.net/mg5amcnlo/3.0/3.5.x/+download/MG5_aMC_v${MG5_VERSION}.tar.gz" -O mg5.tgz && tar xzf mg5.tgz
rm mg5.tgz && mv MG5_aMC_v* mg5amc
echo "import model 2HDM_NLO" > /tmp/import_model.mg5 && /opt/mg5amc/bin/mg5_aMC /tmp/import_model.mg5
