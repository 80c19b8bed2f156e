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
# tools the guest-image and vfio-user rig scripts use (they also check for themselves); qemu-utils,
# nbdkit and libnbd-bin are the NBD and qcow2 peers (qemu-img, qemu-io, qemu-nbd, nbdkit, nbdinfo, nbdcopy); diod is a 9P2000.L peer (diod, diodls, diodcat);
# qemu-system-x86 is QEMU 7.2, the reference the ivshmem and QMP compatibility tests compare jvmm with.
JVMM_TEST_PACKAGES=(qemu-system-common debootstrap kmod cpio gzip prometheus qemu-system-x86 qemu-utils nbdkit libnbd-bin diod)

# ensure_jvmm_built [quiet]: builds jvmm's launcher (the emulator module's jar and, in
# emulator/target/lib, the jars it runs with) unless it is newer than every pom and main source of
# the modules it is made of, so a second run starts in seconds. `package`, not `install`: nothing is
# written to ~/.m2. The tests module is not built here: running jvmm does not need it. With
# "quiet", says nothing when nothing is to be done (scripts/jvmm, on every launch).
ensure_jvmm_built() {
  local jar newer dirs=() m
  jar=$(jvmm_jar)
  if [ -n "$jar" ] && [ -d "$JVMM_ROOT/emulator/target/lib" ]; then
    # The modules jvmm is made of are the jvmm-*.jar beside it, so a new module is never missed.
    for m in "$JVMM_ROOT"/emulator/target/lib/jvmm-*.jar; do
      m=${m##*/jvmm-}; m=${m%-[0-9]*.jar}
      [ -d "$JVMM_ROOT/$m" ] && dirs+=("$JVMM_ROOT/$m/pom.xml" "$JVMM_ROOT/$m/src/main")
    done
    newer=$(find "$JVMM_ROOT/pom.xml" "$JVMM_ROOT/emulator/pom.xml" "$JVMM_ROOT/emulator/src/main" "${dirs[@]}" \
              -newer "$jar" -type f -print -quit 2>/dev/null || true)
    if [ -z "$newer" ]; then
      [ "${1:-}" = quiet ] || log "jvmm is up to date ($(basename "$jar"))"
      return 0
    fi
    log "rebuilding jvmm: $newer changed since $(basename "$jar") was built"
  fi
  ensure_packages "${JVMM_BUILD_PACKAGES[@]}"
  log "building jvmm (mvn -B -q -DskipTests -pl emulator -am package; the first build downloads dependencies)"
  # Maven's output goes to a log shown on failure: even with -q, Debian's Maven 3.8 writes
  # terminal colour resets.
  local mvnlog
  mvnlog=$(mktemp -t jvmm-mvn.XXXXXX)
  if ! with_progress 20 -- bash -c 'cd "$1" && mvn -B -q -DskipTests -pl emulator -am package >"$2" 2>&1' mvn "$JVMM_ROOT" "$mvnlog"; then
    sed 's/\x1b\[[0-9;]*m//g' "$mvnlog" | tail -n 40 >&2
    die "the Maven build failed (full log: $mvnlog); run 'mvn -B -DskipTests -pl emulator -am package' to see why"
  fi
  rm -f "$mvnlog"
  # Maven leaves a jar whose content did not change as it was, so without this a source changed
  # in a module that does not change the emulator's jar would rebuild on every launch.
  touch "$(jvmm_jar)"
}

# JVMM_JAVA_DEFAULTS: the JVM options the launchers start jvmm with (README, "JVM options"): guest
# RAM, rings and I/O buffers live outside the Java heap and the request paths allocate (almost)
# nothing, so the heap is small; the serial collector runs no GC threads beside the vCPU and device
# threads and keeps the least native memory. JVMM_JAVA_OPTS, when set (even empty), replaces them.
JVMM_JAVA_DEFAULTS="-XX:+UseSerialGC -Xms16m -Xmx256m -XX:MaxDirectMemorySize=256m"

# jvmm_jar: the emulator module's jar; nothing before the first build.
jvmm_jar() {
  ls "$JVMM_ROOT"/emulator/target/jvmm-emulator-*.jar 2>/dev/null | head -n 1 || true
}

# jvmm_classpath: the emulator's jar and the jars it runs with (ensure_jvmm_built first).
jvmm_classpath() {
  printf '%s' "$(jvmm_jar):$JVMM_ROOT/emulator/target/lib/*"
}

# CDS's own warnings (e.g. an archive the JVM cannot map, classes it cannot archive) must not
# reach jvmm's stderr: the launch and the training run both start the JVM with these.
JVMM_CDS_QUIET=(-Xlog:cds=off -Xlog:cds+dynamic=off)

# jvmm_cds_options: sets JVMM_CDS_OPTS to the JVM options that start jvmm from a class-data-sharing
# archive of its start-up classes (README, "JVM options"), making the archive first when this build
# and JDK have none. The archive is keyed by the java binary and every jar on the class path (size
# and time), so a rebuild or a JDK update makes a new one instead of the JVM refusing a stale one.
# JVMM_CDS=off, or any failure to make it, leaves JVMM_CDS_OPTS empty: class-data sharing only
# ever saves time, a launch never depends on it. One stat | cksum: this runs on every launch.
jvmm_cds_options() {
  JVMM_CDS_OPTS=()
  [ "${JVMM_CDS:-on}" = off ] && return 0
  local java_bin key archive
  java_bin=$(command -v java) || return 0
  key=$(stat -L -c '%n %s %Y' "$java_bin" "$JVMM_ROOT"/emulator/target/jvmm-emulator-*.jar \
          "$JVMM_ROOT"/emulator/target/lib/*.jar | cksum) || return 0
  archive=$JVMM_ROOT/emulator/target/cds/jvmm-${key%% *}.jsa
  [ -e "$archive.failed" ] && return 0   # this build's training run failed once: do not retry it on every launch
  [ -s "$archive" ] || jvmm_cds_make "$archive" || return 0
  JVMM_CDS_OPTS=("-XX:SharedArchiveFile=$archive" "${JVMM_CDS_QUIET[@]}")
}

# jvmm_cds_make ARCHIVE: the training run. jvmm serves a virtio-blk device over vfio-user on a
# scratch socket (the command line, logging, metrics, Netty, jnr-ffi and device start-up paths)
# until it says it is serving, then is stopped; the JVM writes the classes it loaded at exit
# (-XX:ArchiveClassesAtExit, Java 13+). Takes a few seconds, once per build.
jvmm_cds_make() {
  local archive=$1 tmp pid i part
  tmp=$(mktemp -d -t jvmm-cds.XXXXXX)   # the scratch socket, its disk and the log
  part=$archive.$$.part                 # beside the archive: the rename below is atomic
  mkdir -p "$(dirname "$archive")"
  log "making jvmm's start-up archive (class-data sharing; once per build, a few seconds; JVMM_CDS=off skips it)"
  truncate -s 1M "$tmp/disk.img"
  # shellcheck disable=SC2086
  java $JVMM_JAVA_DEFAULTS "-XX:ArchiveClassesAtExit=$part" "${JVMM_CDS_QUIET[@]}" \
      -cp "$(jvmm_classpath)" io.jvmm.emulator.Main --vfio-user-socket "$tmp/blk.sock" \
      -drive "file=$tmp/disk.img,format=raw,if=none,id=d0" -device virtio-blk-pci,drive=d0,id=blk0 \
      >"$tmp/log" 2>&1 &
  pid=$!
  for ((i = 0; i < 600; i++)); do
    grep -q "serving" "$tmp/log" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  if [ ! -s "$part" ]; then
    log "warning: no class-data-sharing archive was made (jvmm starts without one); the training run said:"
    tail -n 5 "$tmp/log" >&2
    rm -rf "$tmp" "$part"
    touch "$archive.failed"
    return 1
  fi
  mv -f "$part" "$archive"   # a rename: a launch beside this one sees all of it or none
  local old
  for old in "$(dirname "$archive")"/jvmm-*.jsa "$(dirname "$archive")"/jvmm-*.jsa.failed; do
    [ "$old" = "$archive" ] || rm -f "$old"   # earlier builds' archives and failure marks
  done
  rm -rf "$tmp"
}

# kvm_usable [DEVICE]: whether jvmm can run guests on /dev/kvm here, found out by trying it:
# open it read-write, KVM_GET_API_VERSION must answer 12 and KVM_CREATE_VM must give a VM. The
# node's existence is not enough: it can be there without permission for us, or belong to a
# KVM that fails its ioctls. Sets KVM_STATUS to a one-line reason either way. perl does the
# ioctls because perl-base is on every Debian system (no compiler, no python needed).
kvm_usable() {
  local dev=${1:-/dev/kvm}
  if [ ! -e "$dev" ]; then
    KVM_STATUS="$dev does not exist on this machine"
    return 1
  fi
  KVM_STATUS=$(perl -e '
    my ($dev, $user) = @ARGV;
    open(my $kvm, "+<", $dev) or do { print "$dev cannot be opened read-write by $user ($!)"; exit 1 };
    my $v = ioctl($kvm, 0xAE00, 0);                  # KVM_GET_API_VERSION
    defined $v or do { print "KVM_GET_API_VERSION on $dev failed ($!)"; exit 1 };
    $v = 0 if $v eq "0 but true";
    $v == 12 or do { print "KVM_GET_API_VERSION on $dev answered $v, not 12"; exit 1 };
    defined ioctl($kvm, 0xAE01, 0) or do { print "KVM_CREATE_VM on $dev failed ($!)"; exit 1 };   # KVM_CREATE_VM
    print "$dev works (KVM API 12, KVM_CREATE_VM succeeds)";
  ' "$dev" "$(id -un)" 2>&1) && return 0
  [ -n "$KVM_STATUS" ] || KVM_STATUS="$dev could not be checked (perl failed)"
  return 1
}

# Numbered steps for the long scripts: step_total N, then step "what is being done".
JVMM_STEP=0
JVMM_STEPS=1
step_total() { JVMM_STEPS=$1; JVMM_STEP=0; }
step() {
  JVMM_STEP=$((JVMM_STEP + 1))
  log "step $JVMM_STEP/$JVMM_STEPS: $*"
}

# with_progress SECONDS LOGGLOB... -- CMD...: runs CMD; while it runs, every SECONDS prints how
# long it has been going and the last line of the newest file matching a LOGGLOB (the long
# builders send debootstrap's and apt's output to log files, so a minute-long step would
# otherwise be silent). Returns CMD's status.
with_progress() {
  local every=$1 logs=() start=$SECONDS ticker status
  shift
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do logs+=("$1"); shift; done
  shift
  (
    # The sleep runs in the background so that the kill below ends it at once, not only this loop.
    trap 'kill "$nap" 2>/dev/null; exit 0' TERM
    while :; do
      sleep "$every" & nap=$!
      wait "$nap"
      kill -0 "$$" 2>/dev/null || exit 0   # the script itself ended (e.g. Ctrl-C): so do we
      local newest="" last=""
      # shellcheck disable=SC2048,SC2086 # the globs are meant to expand here
      [ ${#logs[@]} -eq 0 ] || newest=$(ls -t ${logs[*]} 2>/dev/null | head -n 1 || true)
      # Quote a log only while it is being written: an old last line would mislead.
      if [ -n "$newest" ] && [ $(( $(date +%s) - $(stat -c %Y "$newest" 2>/dev/null || echo 0) )) -le "$every" ]; then
        last=$(tail -n 1 "$newest" 2>/dev/null | tr -d '\r' | cut -c1-100)
      fi
      log "  ... $((SECONDS - start)) s${last:+, $(basename "$newest"): $last}"
    done
  ) &
  ticker=$!
  "$@" && status=0 || status=$?
  kill "$ticker" 2>/dev/null || true
  wait "$ticker" 2>/dev/null || true
  return "$status"
}
