#!/usr/bin/env bash
# Builds (or reuses) the local test image of the aptamer-tfx pipeline:
# kubeflow/Dockerfile's recipe (kubeflow/test_image/Containerfile) on a base
# made here from a debootstrap'ed Debian bookworm minbase plus this machine's
# Python 3.10, so that no container registry is needed.
#
#   kubeflow/test_image/build.sh            # build or reuse; prints the ref
#   kubeflow/test_image/build.sh --rebuild  # build the project image anew
#
# Progress goes to stderr; stdout gets one line, the image reference
# (localhost/aptamer-tfx:<key>, also tagged localhost/aptamer-tfx:test).
# Exit status: 0 built or reused; 3 no container engine can be installed or
# run here; 1 any other failure (the message says which step).
#
# Reuse rule: every stage is keyed on a hash of its inputs and skipped when
# an image or cache entry with that key exists:
#   rootfs   ~/.cache/aptamer-tfx/rootfs/<key>: suite, mirror, package list;
#   base     localhost/aptamer-tfx-base:<key>: rootfs key + the Python tree;
#   project  localhost/aptamer-tfx:<key>: base key + Containerfile,
#            containerignore, setup.py, constraints.txt and the contents of
#            pipeline/ tools/ components/ schema/ simulation/ (bytecode
#            excluded).
#
# Engine: rootful podman with the runc runtime (daemonless: nothing to start
# or leave running, and the storage lives in /var/lib/containers).
#
# Environment: APTAMER_TFX_CACHE (default ~/.cache/aptamer-tfx),
# APTAMER_TFX_PYTHON (a Python 3.10 built with --enable-shared on this
# bookworm host; default /root/.pyenv/versions/3.10.13), PIP_CACHE_DIR
# (host pip cache bind-mounted into the build; default ~/.cache/pip),
# CA_BUNDLE (default /etc/ssl/certs/ca-certificates.crt), DEBIAN_MIRROR.
set -euo pipefail

readonly REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
readonly HERE="${REPO_ROOT}/kubeflow/test_image"
readonly CACHE_ROOT="${APTAMER_TFX_CACHE:-${HOME}/.cache/aptamer-tfx}"
readonly PYTHON_PREFIX="${APTAMER_TFX_PYTHON:-/root/.pyenv/versions/3.10.13}"
readonly PIP_CACHE="${PIP_CACHE_DIR:-${HOME}/.cache/pip}"
readonly CA_BUNDLE="${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
readonly MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
readonly SUITE=bookworm
readonly IMAGE_REPO=localhost/aptamer-tfx
readonly BASE_REPO=localhost/aptamer-tfx-base
# The shared libraries the Python build links (lib-dynload, tkinter left
# out), the C++ runtime of the manylinux wheels, CA certificates, and a C/C++
# compiler: some pinned packages (pyfarmhash) are sdists with C++ extensions,
# which the TFX base image has prebuilt.
readonly ROOTFS_PACKAGES=(
  ca-certificates g++ gcc libbz2-1.0 libc6-dev libexpat1 libffi8 libgcc-s1
  libgomp1 liblzma5 libncursesw6 libnsl2 libreadline8 libsqlite3-0 libssl3
  libstdc++6 libtirpc3 libuuid1 zlib1g
)
readonly SOURCE_DIRS=(pipeline tools components schema simulation)
# Podman on this kind of VM: runc (crun fails here) and explicit ulimits.
readonly PODMAN=(podman --runtime runc)
readonly ULIMITS=(--ulimit nofile=20000:20000 --ulimit nproc=32768:32768)

log() { printf '[build.sh %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { printf 'build.sh: error: %s\n' "$*" >&2; exit 1; }
# Exit status 3: no container engine here (callers such as the e2e test tell
# this apart from a broken build).
die_no_engine() { printf 'build.sh: no container engine: %s\n' "$*" >&2; exit 3; }

usage() {
  sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
}

REBUILD=0
for arg in "$@"; do
  case "${arg}" in
    --rebuild) REBUILD=1 ;;
    -h | --help) usage; exit 0 ;;
    *) usage; die "unknown argument '${arg}' (expected --rebuild or --help)" ;;
  esac
done

# Hash of stdin, shortened for tags.
short_hash() { sha256sum | cut -c1-16; }

ensure_tools() {
  [[ "$(id -u)" == 0 ]] || die_no_engine 'run as root: debootstrap and rootful podman need it'
  local missing=()
  command -v podman > /dev/null || missing+=(podman)
  command -v runc > /dev/null || missing+=(runc)
  command -v debootstrap > /dev/null || missing+=(debootstrap)
  if ((${#missing[@]})); then
    log "installing with apt: ${missing[*]}"
    command -v apt-get > /dev/null \
      || die_no_engine "missing ${missing[*]} and no apt-get to install them"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >&2 \
      || die_no_engine "apt-get install ${missing[*]} failed (see above)"
  fi
  "${PODMAN[@]}" info > /dev/null 2>&1 \
    || die_no_engine "podman cannot run here: $("${PODMAN[@]}" info 2>&1 | tail -1)"
}

check_python() {
  local exe="${PYTHON_PREFIX}/bin/python3.10"
  [[ -x "${exe}" ]] || die "no Python 3.10 at ${exe} (set APTAMER_TFX_PYTHON to a Python 3.10 prefix)"
  [[ -e "${PYTHON_PREFIX}/lib/libpython3.10.so.1.0" ]] \
    || die "${PYTHON_PREFIX} is not a shared-library build (needs --enable-shared)"
  [[ -d "${PYTHON_PREFIX}/lib/python3.10/site-packages/pip" ]] \
    || die "${PYTHON_PREFIX} has no pip (run ${exe} -m ensurepip)"
  # The copied interpreter must not need a newer glibc than bookworm's.
  local codename
  codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
  [[ "${codename}" == "${SUITE}" ]] \
    || die "this host is '${codename}', not ${SUITE}: a Python built here may not run on ${SUITE}'s glibc"
  [[ -r "${CA_BUNDLE}" ]] || die "CA bundle ${CA_BUNDLE} is not readable (set CA_BUNDLE)"
}

rootfs_key() {
  printf '%s\n' v1 "${SUITE}" "${MIRROR}" minbase "${ROOTFS_PACKAGES[@]}" \
    "${PYTHON_PREFIX}" | short_hash
}

# A failed debootstrap can leave /proc and /sys mounted in its target.
unmount_under() {
  local mnt
  awk -v dir="$1/" 'index($2, dir) == 1 { print $2 }' /proc/mounts | sort -r \
    | while read -r mnt; do umount -l "${mnt}"; done
}

# The debootstrap'ed tree, kept under CACHE_ROOT: debootstrap is the slow,
# network-bound part of a cold build.
ensure_rootfs() {
  ROOTFS="${CACHE_ROOT}/rootfs/${SUITE}-$(rootfs_key)"
  if [[ -f "${ROOTFS}.complete" ]]; then
    log "rootfs: reusing ${ROOTFS}"
    return
  fi
  local tmp="${ROOTFS}.partial"
  unmount_under "${tmp}"
  rm -rf "${tmp}" && mkdir -p "${tmp}"
  local include
  include="$(IFS=,; echo "${ROOTFS_PACKAGES[*]}")"
  log "rootfs: debootstrap --variant=minbase ${SUITE} from ${MIRROR} (a few minutes)"
  debootstrap --variant=minbase --include="${include}" "${SUITE}" "${tmp}" \
    "${MIRROR}" >&2 \
    || die "debootstrap failed (log: ${tmp}/debootstrap/debootstrap.log)"
  # No apt lists, package archives or docs in the image.
  rm -rf "${tmp}"/var/lib/apt/lists/* "${tmp}"/var/cache/apt/* \
    "${tmp}"/usr/share/{doc,man,info}/* "${tmp}"/var/log/*.log
  # `python` and `python3` on PATH: the Kubeflow spec runs `python -m ...`.
  local name
  for name in python python3 pip pip3; do
    ln -sf "${PYTHON_PREFIX}/bin/${name}" "${tmp}/usr/local/bin/${name}"
  done
  rm -rf "${ROOTFS}"
  mv "${tmp}" "${ROOTFS}"
  touch "${ROOTFS}.complete"
  # Trees of older package lists.
  local old
  for old in "${CACHE_ROOT}/rootfs/${SUITE}-"*.complete; do
    [[ "${old}" == "${ROOTFS}.complete" ]] && continue
    unmount_under "${old%.complete}"
    rm -rf "${old%.complete}" "${old}"
  done
  log "rootfs: ready ($(du -sh "${ROOTFS}" | cut -f1))"
}

# Python tree paths left out of the image (relative to /): the test suite,
# GUI modules, the static library, and the sandbox's certifi hook.
python_excludes() {
  local p="${PYTHON_PREFIX#/}" lib="${PYTHON_PREFIX#/}/lib/python3.10"
  printf -- '--exclude=%s\n' \
    "${lib}/test" "${lib}/idlelib" "${lib}/tkinter" "${lib}/turtledemo" \
    "${lib}/lib-dynload/_tkinter*" "${lib}/config-3.10-x86_64-linux-gnu/*.a" \
    "${lib}/site-packages/_sandboxing_*" "${p}/bin/idle*"
}

base_key() {
  {
    rootfs_key
    python_excludes
    # File list and sizes of the interpreter tree (bytecode excluded: it is
    # rewritten whenever the host Python runs).
    find "${PYTHON_PREFIX}" -path '*/__pycache__' -prune -o -type f \
      -printf '%P %s\n' | LC_ALL=C sort
  } | short_hash
}

# bookworm rootfs + the Python tree at its own prefix, imported as an image.
ensure_base() {
  BASE_IMAGE="${BASE_REPO}:$(base_key)"
  if "${PODMAN[@]}" image exists "${BASE_IMAGE}"; then
    log "base: reusing ${BASE_IMAGE}"
    return
  fi
  log "base: importing ${BASE_IMAGE} (rootfs + ${PYTHON_PREFIX})"
  local excludes
  mapfile -t excludes < <(python_excludes)
  tar --numeric-owner -cf - "${excludes[@]}" -C "${ROOTFS}" . \
    -C / "${PYTHON_PREFIX#/}" \
    | "${PODMAN[@]}" import \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'ENV LANG=C.UTF-8' \
      --change 'CMD ["python"]' \
      --message "aptamer-tfx test base: debian ${SUITE} minbase + ${PYTHON_PREFIX}" \
      - "${BASE_IMAGE}" > /dev/null \
    || die "podman import of ${BASE_IMAGE} failed"
  "${PODMAN[@]}" run --rm --network none "${ULIMITS[@]}" "${BASE_IMAGE}" \
    python -c 'import ssl, sqlite3, lzma, bz2, ctypes, readline, uuid' >&2 \
    || die "Python in ${BASE_IMAGE} lacks a shared library (see above)"
  remove_other_tags "${BASE_REPO}" "${BASE_IMAGE}"
}

# Drops this script's images of older inputs (their layers go with them).
remove_other_tags() {
  local repo="$1" keep="$2" ref
  for ref in $("${PODMAN[@]}" images --format '{{.Repository}}:{{.Tag}}' "${repo}"); do
    [[ "${ref}" == "${keep}" || "${ref}" == "${repo}:test" ]] \
      || "${PODMAN[@]}" rmi "${ref}" > /dev/null 2>&1 || true
  done
}

# The files the Containerfile copies, with their contents.
project_key() {
  {
    echo "${BASE_IMAGE}"
    cd "${REPO_ROOT}"
    sha256sum kubeflow/test_image/Containerfile kubeflow/test_image/containerignore \
      setup.py constraints.txt
    find "${SOURCE_DIRS[@]}" -name __pycache__ -prune -o -type f ! -name '*.pyc' \
      -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
  } | short_hash
}

ensure_project() {
  IMAGE="${IMAGE_REPO}:$(project_key)"
  if ((!REBUILD)) && "${PODMAN[@]}" image exists "${IMAGE}"; then
    log "project: reusing ${IMAGE}"
  else
    mkdir -p "${PIP_CACHE}"
    log "project: building ${IMAGE} (pip install -c constraints.txt .; many minutes cold)"
    # Layer cache on: the dependency layer (setup.py, constraints.txt) is
    # reused when only the code changed; dangling layers are pruned below.
    "${PODMAN[@]}" build "${ULIMITS[@]}" --pull=never --network host --layers \
      --file "${HERE}/Containerfile" --ignorefile "${HERE}/containerignore" \
      --build-arg "BASE_IMAGE=${BASE_IMAGE}" \
      --build-arg PIP_CACHE_MOUNT=/root/.cache/pip \
      --volume "${PIP_CACHE}:/root/.cache/pip" \
      --secret "id=ca_bundle,src=${CA_BUNDLE}" \
      --tag "${IMAGE}" "${REPO_ROOT}" >&2 \
      || die "podman build of ${IMAGE} failed (see the pip output above)"
  fi
  "${PODMAN[@]}" tag "${IMAGE}" "${IMAGE_REPO}:test"
  remove_other_tags "${IMAGE_REPO}" "${IMAGE}"
  # Untagged images of older code; the cached dependency layer stays while
  # the current image is built on it.
  "${PODMAN[@]}" image prune --force > /dev/null 2>&1 || true
  local size
  size="$("${PODMAN[@]}" image inspect --format '{{.Size}}' "${IMAGE}")"
  log "project: ${IMAGE} ($((size / 1000000)) MB), also ${IMAGE_REPO}:test"
}

# One build at a time (two test workers, or a test and a person): the
# stages tag and prune images the other may be using.
take_lock() {
  exec 9> "${CACHE_ROOT}/build.lock"
  if ! flock -n 9; then
    log "waiting for another build.sh to finish (${CACHE_ROOT}/build.lock)"
    flock 9
  fi
}

main() {
  ensure_tools
  check_python
  mkdir -p "${CACHE_ROOT}/rootfs"
  take_lock
  ensure_rootfs
  ensure_base
  ensure_project
  echo "${IMAGE}"
}

main
