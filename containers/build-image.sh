#!/usr/bin/env bash
# Builds the generation and training images with buildah (chroot isolation: no daemon, no registry, no
# cgroups needed) from a Debian 12 base made here with debootstrap, and keeps them in a buildah storage
# of their own under the cache directory (containers/image-cache-dir), like the generation stack.
#   base        debootstrap --variant=minbase bookworm + python3 (3.11), pip, venv, python-is-python3,
#               committed as localhost/jetclass2-base:bookworm (what python:3.11-slim-bookworm gives elsewhere)
#   generation  containers/generation.Dockerfile with the native generation stack (containers/stack-cache-dir,
#               built by install-generation-stack.sh on this Debian 12 machine) staged as
#               build/stack-sources/prebuilt: the image reuses it instead of building it a second time
#   training    containers/training.Dockerfile with a torch 2.13.0 wheel from --torch-wheels (CPU build)
# Usage: containers/build-image.sh [--cache DIR] [--stack DIR] [--mirror URL] [--torch-wheels DIR]
#                                   [--only generation|training]
#   --cache DIR         where the images are kept (default: $(containers/image-cache-dir)); DIR/.complete
#                       lists IMAGE SIZE BUILD_SECONDS per image; a complete cache is reused as it is
#   --stack DIR         the built generation stack (default: $(containers/stack-cache-dir)); needs DIR/.complete
#   --mirror URL        Debian mirror for debootstrap (default http://deb.debian.org/debian)
#   --torch-wheels DIR  directory with a torch-2.13.0 wheel, bind-mounted for the training build
#                       (default: the PyTorch CUDA index, downloaded)
# Packages for the images come from the Debian mirror and PyPI; with PIP_CERT set (a TLS-intercepting
# proxy's CA bundle) that bundle is bind-mounted as the build's CA bundle. Needs root, buildah, debootstrap.
# Use an image:  B="buildah --root DIR/storage --runroot DIR/run --storage-driver overlay"
#   ctr=$($B from --pull=never IMAGE) && $B run --isolation chroot -v "$PWD:$PWD" "$ctr" -- CMD; $B rm "$ctr"
# SIF for a cluster (docs/container.md): $B push IMAGE docker-archive:FILE.tar, then apptainer build.
set -euo pipefail

me=$(basename "$0")
die() { echo "$me: error: $*" >&2; exit 2; }
t0=$SECONDS
step() { printf '== [%4ds] %s\n' $((SECONDS - t0)) "$*"; }
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)

cache= stack= mirror=http://deb.debian.org/debian torch_wheels= only=
while [ $# -gt 0 ]; do
    case $1 in
        --cache) cache=${2:?--cache needs a directory}; shift 2 ;;
        --stack) stack=${2:?--stack needs a directory}; shift 2 ;;
        --mirror) mirror=${2:?--mirror needs a URL}; shift 2 ;;
        --torch-wheels) torch_wheels=${2:?--torch-wheels needs a directory}; shift 2 ;;
        --only) only=${2:?--only needs generation or training}; shift 2 ;;
        -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done
case $only in ""|generation|training) ;; *) die "--only: '$only' is neither generation nor training" ;; esac
[ -n "$cache" ] || cache=$(bash "$repo/containers/image-cache-dir")
[ -n "$stack" ] || stack=$(bash "$repo/containers/stack-cache-dir")
tag=$(basename "$cache"); tag=${tag#image-}
want=(); [ "$only" = training ] || want+=(generation); [ "$only" = generation ] || want+=(training)

missing() {  # the wanted images that $cache/.complete does not list
    for i in "${want[@]}"; do
        grep -qs "^localhost/jetclass2-$i:$tag " "$cache/.complete" || echo "$i"
    done
}
if [ -z "$(missing)" ]; then
    echo "$me: $cache is complete; cached images:"; cat "$cache/.complete"; exit 0
fi
[ "$(id -u)" = 0 ] || die "needs root (debootstrap, buildah's chroot isolation)"
for tool in buildah debootstrap; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found (Debian package: $tool)"
done
if [ "$only" != training ]; then
    [ -f "$stack/.complete" ] || die "$stack: no built generation stack (.complete missing); build it first:" \
        "bash containers/install-generation-stack.sh --prefix $stack --sources ../shared/toolchain"
    # The stack's binaries were built here, against this machine's glibc/libstdc++/gfortran: the base
    # must be the same Debian release for them to run unchanged.
    . /etc/os-release
    [ "${ID:-}" = debian ] && [ "${VERSION_ID:-}" = 12 ] \
        || die "the stack at $stack was built on ${PRETTY_NAME:-an unknown system}, the image is Debian 12: rebuild the stack inside the image instead (generation.Dockerfile without build/stack-sources/prebuilt)"
fi
if [ -n "$torch_wheels" ]; then
    [ -d "$torch_wheels" ] || die "--torch-wheels $torch_wheels is not a directory"
    torch_wheels=$(cd "$torch_wheels" && pwd -P)
    compgen -G "$torch_wheels/torch-2.13.0*.whl" >/dev/null || die "--torch-wheels $torch_wheels holds no torch-2.13.0 wheel"
fi

mkdir -p "$cache"
cache=$(cd "$cache" && pwd -P)
exec 9>"$cache/.lock"; flock 9   # two builds of the same cache wait for each other
declare -A built=()  # NAME -> its .complete line; the images built before are kept
while read -r image size secs; do
    name=${image#localhost/jetclass2-}; built[${name%%:*}]="$image $size $secs"
done < <(cat "$cache/.complete" 2>/dev/null)
mapfile -t want < <(missing)
B=(buildah --root "$cache/storage" --runroot "$cache/run" --storage-driver overlay)
ctrs=() staged=
cleanup() {
    local rc=$?
    for c in "${ctrs[@]}"; do "${B[@]}" rm "$c" >/dev/null 2>&1 || true; done
    [ -z "$staged" ] || rm -rf "$staged"
    [ $rc = 0 ] || echo "$me: FAILED (exit $rc) after $((SECONDS - t0)) s" >&2
}
trap cleanup EXIT
ca=()  # the build's CA bundle: PIP_CERT's (a proxy's CA) when set, over the image's own
[ -z "${PIP_CERT:-}" ] || ca=(-v "$(readlink -f "$PIP_CERT"):/etc/ssl/certs/ca-certificates.crt:ro")

# --- base: Debian 12 minbase with Python 3.11 -----------------------------------------------------
base=localhost/jetclass2-base:bookworm
if ! "${B[@]}" inspect --type image "$base" >/dev/null 2>&1; then
    step "base image $base: debootstrap --variant=minbase bookworm ($mirror)"
    ctr=$("${B[@]}" from scratch); ctrs+=("$ctr")
    mnt=$("${B[@]}" mount "$ctr")
    debootstrap --variant=minbase --include=python3,python3-pip,python3-venv,python-is-python3,ca-certificates \
        bookworm "$mnt" "$mirror" >"$cache/debootstrap.log" 2>&1 \
        || { tail -n 20 "$cache/debootstrap.log" >&2; die "debootstrap failed (log: $cache/debootstrap.log)"; }
    rm -rf "$mnt"/var/cache/apt/archives/*.deb "$mnt"/var/lib/apt/lists/*
    "${B[@]}" umount "$ctr" >/dev/null
    "${B[@]}" config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --env LANG=C.UTF-8 \
        --cmd bash "$ctr"
    "${B[@]}" commit -q --rm "$ctr" "$base" >/dev/null; ctrs=()
fi

# --- the images -----------------------------------------------------------------------------------
size_of() { "${B[@]}" images --json "$1" | python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["size"].replace(" ", ""))'; }
build() {  # build NAME bud-arguments...: IMAGE localhost/jetclass2-NAME:TAG; the record line in $built
    local name=$1 image=localhost/jetclass2-$1:$tag s=$SECONDS; shift
    step "image $image (containers/$name.Dockerfile)"
    (cd "$repo" && nice "${B[@]}" bud --isolation chroot --pull=never --layers=false "${ca[@]}" --build-arg BASE="$base" \
        -f "containers/$name.Dockerfile" -t "$image" "$@" .) >"$cache/build-$name.log" 2>&1 \
        || { tail -n 30 "$cache/build-$name.log" >&2; die "$name image build failed (log: $cache/build-$name.log)"; }
    built[$name]="$image $(size_of "$image") $((SECONDS - s))"
    step "image $image built in $((SECONDS - s)) s"
}
if [[ " ${want[*]} " == *" generation "* ]]; then
    # The stack, staged by hard links (a copy where they cannot be made) into the build context
    mkdir -p "$repo/build/stack-sources"
    [ ! -e "$repo/build/stack-sources/prebuilt" ] || die "$repo/build/stack-sources/prebuilt exists (another build?); remove it"
    staged=$repo/build/stack-sources/prebuilt
    cp -al "$stack" "$staged" 2>/dev/null || { rm -rf "$staged"; cp -a "$stack" "$staged"; }
    rm -f "$staged/.lock"
    build generation
    rm -rf "$staged"; staged=
    # the stack runs where it now lies: the install script's own checks, in the image
    ctr=$("${B[@]}" from --pull=never "localhost/jetclass2-generation:$tag"); ctrs+=("$ctr")
    "${B[@]}" run --isolation chroot "$ctr" -- bash -c '
        DelphesPythia8 2>&1 | grep -q "Usage: DelphesPythia8" && command -v mg5_aMC root2pileup hadd gfortran >/dev/null \
        && cd /tmp && root -b -q -e "gSystem->Load(\"libDelphes\"); if (!TClass::GetClass(\"Jet\")) exit(1);" >/dev/null 2>&1 \
        && python3 -c "import jetclass2, uproot, snakemake"' \
        || die "the generation image's stack does not run (DelphesPythia8, ROOT with libDelphes, or the Python environment)"
    "${B[@]}" rm "$ctr" >/dev/null; ctrs=()
fi
if [[ " ${want[*]} " == *" training "* ]]; then
    if [ -n "$torch_wheels" ]; then
        build training -v "$torch_wheels:/opt/torch-wheels:ro" --build-arg TORCH_INDEX=/opt/torch-wheels
    else
        build training
    fi
fi

# --- record ---------------------------------------------------------------------------------------
{ for name in "${!built[@]}"; do echo "${built[$name]}"; done; } | sort > "$cache/.complete.tmp"
mv "$cache/.complete.tmp" "$cache/.complete"
step "done: $cache/.complete (IMAGE SIZE BUILD_SECONDS)"
cat "$cache/.complete"
