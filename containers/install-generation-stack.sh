#!/usr/bin/env bash
# Installs the generation stack of the container backend into one prefix:
#   ROOT 6.40 (PyPI wheel ROOT==0.1a12, no system Python touched)      -> PREFIX/root
#   Pythia 8.317 C++ library + headers + xmldoc (pythia8mc sdist)      -> PREFIX/pythia8
#   Delphes 3.5.0 with DelphesPythia8                                  -> PREFIX/delphes
#   MadGraph5_aMC@NLO 3.1.1 with heft(-no_b_mass) and 2HDM, plus six   -> PREFIX/mg5amc, PREFIX/pylib
#   PREFIX/setup.sh (POSIX sh: `. PREFIX/setup.sh`) puts all of it on PATH/LD_LIBRARY_PATH/PYTHONPATH.
# Usage: install-generation-stack.sh --prefix DIR [--sources DIR] [--install-system-deps]
#   --sources DIR          offline: MG5_aMC_v3.1.1-offline.tar.gz and Delphes-3.5.0.tar.gz (shared/toolchain
#                          layout, checked against its SHA256SUMS); may also hold pythia8mc-8.317.2.tar.gz,
#                          the root-0.1a12 wheel and a six wheel, else those come from PyPI.
#                          Without it everything is downloaded (same versions) from the home sites / PyPI.
#   --install-system-deps  apt-get install the Debian build dependencies first (needs root).
# Builds happen in PREFIX/.build.*; PREFIX/.complete (sha256 of this script) is written last, so a
# prefix without a matching stamp is wiped (only the directories this script creates) and rebuilt.
# The same steps build generation.Dockerfile and generation.def. Cache naming: containers/stack-cache-dir.
set -euo pipefail

readonly ROOT_WHEEL_VERSION=0.1a12
readonly PYTHIA8MC_VERSION=8.317.2
readonly DELPHES_VERSION=3.5.0
readonly MG5_VERSION=3.1.1
readonly SIX_VERSION=1.17.0
readonly MG5_URL="https://launchpad.net/mg5amcnlo/3.0/3.1.x/+download/MG5_aMC_v${MG5_VERSION}.tar.gz"
readonly MG5_MODELS_VERSION=2.6.0
readonly MG5_MODELS_URL="https://launchpad.net/mg5amcnlo/2.0/2.6.x/+download/MG5_aMC_v${MG5_MODELS_VERSION}.tar.gz"
readonly DELPHES_URL="http://cp3.irmp.ucl.ac.be/downloads/Delphes-${DELPHES_VERSION}.tar.gz"
APT_PACKAGES="g++ gfortran make zlib1g-dev tar gzip ca-certificates wget"
JOBS=${JOBS:-2}

me=$(basename "$0")
die() { echo "$me: error: $*" >&2; exit 1; }
t0=$SECONDS
step() { printf '== [%4ds] %s\n' $((SECONDS - t0)) "$*"; }

prefix= sources= sysdeps=0
while [ $# -gt 0 ]; do
    case $1 in
        --prefix) prefix=${2:?--prefix needs a directory}; shift 2 ;;
        --sources) sources=${2:?--sources needs a directory}; shift 2 ;;
        --install-system-deps) sysdeps=1; shift ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done
[ -n "$prefix" ] || die "--prefix DIR is required"
script_sha=$(sha256sum "${BASH_SOURCE[0]}" | cut -d' ' -f1)

# --- system prerequisites -------------------------------------------------------------------------
if [ "$sysdeps" = 1 ]; then
    python3 -m pip --version >/dev/null 2>&1 || APT_PACKAGES+=" python3 python3-pip"
    step "apt-get install $APT_PACKAGES"
    [ "$(id -u)" = 0 ] || die "--install-system-deps needs root (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $APT_PACKAGES >/dev/null
fi
missing=()
need() { command -v "$1" >/dev/null 2>&1 || missing+=("$1 (Debian package: $2)"); }
need g++ g++; need gfortran gfortran; need make make; need python3 python3; need tar tar; need gzip gzip
python3 -m pip --version >/dev/null 2>&1 || missing+=("python3 -m pip (Debian package: python3-pip)")
echo '#include <zlib.h>' | g++ -E -x c++ - >/dev/null 2>&1 || missing+=("zlib.h (Debian package: zlib1g-dev)")
if [ -z "$sources" ]; then
    command -v wget >/dev/null 2>&1 || command -v curl >/dev/null 2>&1 || missing+=("wget (Debian package: wget)")
fi
[ ${#missing[@]} -eq 0 ] || die "missing $(IFS=,; echo "${missing[*]}" | sed 's/,/, /g'); install it or rerun with --install-system-deps"

# --- prefix state ---------------------------------------------------------------------------------
mkdir -p "$prefix"
prefix=$(cd "$prefix" && pwd -P)
[ -z "$sources" ] || sources=$(cd "$sources" && pwd -P) || die "--sources $sources is not a directory"
if command -v flock >/dev/null 2>&1; then  # two builds of the same prefix wait for each other
    exec 9>"$prefix/.lock"
    flock 9
fi
if [ -f "$prefix/.complete" ] && [ "$(cut -d' ' -f1 "$prefix/.complete")" = "$script_sha" ]; then
    echo "$me: $prefix is complete (stamp matches this script); nothing to do"
    exit 0
fi
step "installing into $prefix (script sha256 $script_sha)"
rm -rf "$prefix/.complete" "$prefix/setup.sh" "$prefix/root" "$prefix/pythia8" "$prefix/delphes" \
    "$prefix/mg5amc" "$prefix/pylib" "$prefix"/.build.*
build=$(mktemp -d "$prefix/.build.XXXXXX")
trap 'rc=$?; [ $rc = 0 ] || echo "$me: FAILED (exit $rc) after $((SECONDS - t0)) s; build directory kept: $build" >&2' EXIT

fetch() {  # fetch NAME URL: NAME from --sources, else downloaded; prints the path
    if [ -n "$sources" ]; then
        [ -f "$sources/$1" ] || die "$1 not found in $sources"
        echo "$sources/$1"
    else
        if command -v wget >/dev/null 2>&1; then wget -q -O "$build/$1" "$2"; else curl -fsSL -o "$build/$1" "$2"; fi
        echo "$build/$1"
    fi
}
pip_from_sources() {  # pip options: offline from --sources if it holds the distribution ($1 glob)
    if [ -n "$sources" ] && compgen -G "$sources/$1" >/dev/null; then echo "--no-index --find-links $sources"; fi
}
if [ -n "$sources" ] && [ -f "$sources/SHA256SUMS" ]; then
    step "checking $sources/SHA256SUMS"
    (cd "$sources" && sha256sum --quiet -c --ignore-missing SHA256SUMS) || die "checksum mismatch in $sources"
fi
pip=(python3 -m pip --disable-pip-version-check --no-cache-dir -q)

# --- ROOT (PyPI wheel) ----------------------------------------------------------------------------
step "ROOT wheel ROOT==$ROOT_WHEEL_VERSION"
# --no-deps: its only dependency, numpy, must not shadow the system's numpy on PYTHONPATH
# shellcheck disable=SC2046
"${pip[@]}" install --no-deps --pre --target "$prefix/root" $(pip_from_sources 'root-*.whl') \
    "ROOT==$ROOT_WHEEL_VERSION"
ROOTSYS=$prefix/root/ROOT
# root-config looks for its directories under ROOT/mock_site_packages/ROOT (the wheel's build layout)
mkdir -p "$ROOTSYS/mock_site_packages" && ln -sfn .. "$ROOTSYS/mock_site_packages/ROOT"
export ROOTSYS PATH=$ROOTSYS/bin:$PATH
export LD_LIBRARY_PATH=$ROOTSYS/lib:$prefix/root/root.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
[ "$(root-config --incdir)" -ef "$ROOTSYS/include" ] || die "root-config does not point into $ROOTSYS"
step "ROOT $(root-config --version) ($(root-config --cxx) $(root-config --cflags | grep -o -- '-std=[^ ]*'))"

# --- MadGraph5_aMC@NLO + six ----------------------------------------------------------------------
if [ -n "$sources" ]; then mg5_tar=MG5_aMC_v${MG5_VERSION}-offline.tar.gz; else mg5_tar=MG5_aMC_v${MG5_VERSION}.tar.gz; fi
step "MadGraph5_aMC@NLO $MG5_VERSION ($mg5_tar)"
mkdir "$build/mg5" && tar -xzf "$(fetch "$mg5_tar" "$MG5_URL")" -C "$build/mg5"
mv "$build"/mg5/MG5_aMC_v* "$prefix/mg5amc"
if [ -z "$sources" ]; then  # heft and 2HDM from the last release that shipped them (as in the offline tarball)
    tar -xzf "$(fetch "MG5_aMC_v$MG5_MODELS_VERSION.tar.gz" "$MG5_MODELS_URL")" -C "$build/mg5"
    for m in heft 2HDM; do
        [ -d "$prefix/mg5amc/models/$m" ] || cp -r "$build"/mg5/MG5_aMC_v2_*/models/$m "$prefix/mg5amc/models/"
    done
fi
# shellcheck disable=SC2046
"${pip[@]}" install --no-deps --target "$prefix/pylib" $(pip_from_sources 'six-*.whl') "six==$SIX_VERSION"
# Importing the models once converts (Python 2 models) and caches them in the install tree, and one
# `output` adapts MG5's Template/LO/Source/make_opts to the compilers, so that the tree can be
# read-only afterwards (image). MG5 exits 0 when a command fails: its output is checked instead.
{ [ -n "$sources" ] || echo "set auto_convert_model T"; cat <<EOF
import model heft-no_b_mass
display particles
generate p p > h h
output $build/mg5-check-pphh
import model 2HDM
display particles
EOF
} > "$build/mg5-check.mg5"
(cd "$build" && PYTHONPATH=$prefix/pylib${PYTHONPATH:+:$PYTHONPATH} python3 "$prefix/mg5amc/bin/mg5_aMC" mg5-check.mg5) \
    > "$build/mg5-check.log" 2>&1 || true
if grep -q -i -E 'error|interrupted|requires the six' "$build/mg5-check.log" || ! grep -q -w 'h+' "$build/mg5-check.log" \
    || [ "$(grep -c 'Current model contains' "$build/mg5-check.log")" != 2 ] || [ ! -f "$build/mg5-check-pphh/Cards/run_card.dat" ]; then
    tail -n 30 "$build/mg5-check.log" >&2
    die "MG5 cannot import heft-no_b_mass and 2HDM or write a process (log: $build/mg5-check.log)"
fi

# --- Pythia 8 C++ library from the pythia8mc sdist ------------------------------------------------
step "Pythia 8 C++ library from pythia8mc==$PYTHIA8MC_VERSION (sdist)"
pythia_sdist=$sources/pythia8mc-$PYTHIA8MC_VERSION.tar.gz
if [ -z "$sources" ] || [ ! -f "$pythia_sdist" ]; then
    "${pip[@]}" download --no-deps --no-binary :all: -d "$build" "pythia8mc==$PYTHIA8MC_VERSION"
    pythia_sdist=$build/pythia8mc-$PYTHIA8MC_VERSION.tar.gz
fi
tar -xzf "$pythia_sdist" -C "$build"
psrc=$(echo "$build/pythia8mc-$PYTHIA8MC_VERSION"/pythia8[0-9]*)
P8=$prefix/pythia8
# The sdist has src/*.cc, the headers (under plugins/python/include) and share/Pythia8, but no
# Makefile: compile with the flags of Pythia's own build (C++11, -O2, -fPIC, gzip support).
cat > "$psrc/Makefile.stack" <<'EOF'
.RECIPEPREFIX = >
OBJ := $(patsubst src/%.cc,obj/%.o,$(wildcard src/*.cc))
lib/libpythia8.so: $(OBJ)
> @mkdir -p lib
> $(CXX) -shared -Wl,-soname,libpythia8.so -o $@ $^ -lz -ldl -pthread
obj/%.o: src/%.cc
> @mkdir -p obj
> $(CXX) -O2 -std=c++11 -fPIC -pthread -w -DGZIP -DXMLDIR='"$(XMLDIR)"' -Iplugins/python/include -c $< -o $@
EOF
make -C "$psrc" -f Makefile.stack -j"$JOBS" -s XMLDIR="$P8/share/Pythia8/xmldoc"
mkdir -p "$P8/lib" "$P8/include" "$P8/share/Pythia8"
cp "$psrc/lib/libpythia8.so" "$P8/lib/"
cp -r "$psrc/plugins/python/include/Pythia8" "$psrc/plugins/python/include/Pythia8Plugins" "$P8/include/"
for d in xmldoc pdfdata setups tunes; do cp -r "$psrc/share/Pythia8/$d" "$P8/share/Pythia8/"; done
[ -f "$P8/share/Pythia8/xmldoc/Welcome.xml" ] || die "no Pythia xmldoc in $pythia_sdist"

# --- Delphes with DelphesPythia8 ------------------------------------------------------------------
step "Delphes $DELPHES_VERSION with Pythia 8"
tar -xzf "$(fetch "Delphes-$DELPHES_VERSION.tar.gz" "$DELPHES_URL")" -C "$build"
make -C "$build/Delphes-$DELPHES_VERSION" -j"$JOBS" -s HAS_PYTHIA8=true PYTHIA8="$P8" >"$build/delphes-make.log" 2>&1 \
    || { tail -n 40 "$build/delphes-make.log" >&2; die "Delphes build failed (log: $build/delphes-make.log)"; }
rm -rf "$build/Delphes-$DELPHES_VERSION/tmp"  # object files
mv "$build/Delphes-$DELPHES_VERSION" "$prefix/delphes"
for exe in DelphesPythia8 DelphesHepMC2 DelphesHepMC3 DelphesLHEF DelphesROOT hepmc2pileup root2pileup libDelphes.so; do
    [ -f "$prefix/delphes/$exe" ] || die "Delphes build did not produce $exe"
done

# --- environment ----------------------------------------------------------------------------------
step "writing $prefix/setup.sh"
cat > "$prefix/setup.sh" <<EOF
# Generation stack environment (POSIX sh): . $prefix/setup.sh
# Written by containers/install-generation-stack.sh (sha256 $script_sha).
JETCLASS2_STACK=$prefix
export JETCLASS2_STACK
export ROOTSYS=\$JETCLASS2_STACK/root/ROOT
export PYTHIA8=\$JETCLASS2_STACK/pythia8
export PYTHIA8DATA=\$PYTHIA8/share/Pythia8/xmldoc
export DELPHES_DIR=\$JETCLASS2_STACK/delphes
export MG5_DIR=\$JETCLASS2_STACK/mg5amc
export PATH=\$MG5_DIR/bin:\$DELPHES_DIR:\$ROOTSYS/bin\${PATH:+:\$PATH}
export LD_LIBRARY_PATH=\$DELPHES_DIR:\$PYTHIA8/lib:\$ROOTSYS/lib:\$JETCLASS2_STACK/root/root.libs\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}
export PYTHONPATH=\$JETCLASS2_STACK/root:\$JETCLASS2_STACK/pylib\${PYTHONPATH:+:\$PYTHONPATH}
export ROOT_INCLUDE_PATH=\$DELPHES_DIR:\$DELPHES_DIR/external\${ROOT_INCLUDE_PATH:+:\$ROOT_INCLUDE_PATH}
EOF

# --- smoke checks, then the stamp -----------------------------------------------------------------
step "checks"
(
    . "$prefix/setup.sh"
    cd "$build"
    usage=$(DelphesPythia8 2>&1 || true)
    grep -q 'Usage: DelphesPythia8' <<<"$usage" || die "DelphesPythia8 does not run: $usage"
    root -b -q -e 'gSystem->Load("libDelphes"); if (!TClass::GetClass("Jet")) exit(1);' >/dev/null 2>&1 \
        || die "ROOT cannot load libDelphes"
    python3 -c 'import ROOT' >/dev/null 2>&1 || echo "$me: warning: python3 cannot import ROOT (the wheel is for CPython 3.11)" >&2
)
rm -rf "$build"
echo "$script_sha  $me" > "$prefix/.complete"
step "done: . $prefix/setup.sh"
