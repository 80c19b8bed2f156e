# Shared helpers for the scripts in this folder. Source it; do not run it.
# shellcheck shell=bash

JVMM_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

log() { printf '[jvmm] %s\n' "$*" >&2; }
die() { printf '[jvmm] error: %s\n' "$*" >&2; exit 1; }

# ensure_packages PKG... : installs the Debian packages that are missing.
# As root it runs apt-get; otherwise it names exactly what to install and stops.
ensure_packages() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    die "missing Debian packages: ${missing[*]} -- run: sudo apt-get install -y ${missing[*]}"
  fi
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y --no-install-recommends "${missing[@]}" >/tmp/jvmm-apt.log 2>&1; then
    apt-get update >>/tmp/jvmm-apt.log 2>&1 || true
    apt-get install -y --no-install-recommends "${missing[@]}" >>/tmp/jvmm-apt.log 2>&1 \
      || { tail -n 30 /tmp/jvmm-apt.log >&2; die "apt-get install failed (full log: /tmp/jvmm-apt.log)"; }
  fi
}

# The packages a build and the test suite need on a fresh Debian 12 machine (gcc, make and
# binutils build the freestanding test guest in tests/guest).
JVMM_BUILD_PACKAGES=(openjdk-17-jdk-headless maven gcc make binutils)
# What the integration tests talk to, beyond the build: virtiofsd (qemu-system-common), and the
# tools the guest-image and vfio-user rig scripts use (they also check for themselves).
JVMM_TEST_PACKAGES=(qemu-system-common debootstrap kmod cpio gzip)

# build_jvmm: compiles and packages jvmm (no tests) so scripts/jvmm can run it.
build_jvmm() {
  ensure_packages "${JVMM_BUILD_PACKAGES[@]}"
  log "building jvmm (mvn -B -q -DskipTests install)"
  (cd "$JVMM_ROOT" && mvn -B -q -DskipTests install) || die "the Maven build failed; run 'mvn -B -DskipTests install' to see why"
}
