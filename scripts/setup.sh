#!/usr/bin/env bash
# Installs what calitrace needs, only what is missing: Debian packages, then npm dependencies.
# Idempotent: a second run on a ready machine installs nothing and takes about a second.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian package -> a file (absolute path) or a command on PATH that proves it is installed.
declare -A probe=(
  [clang]=/usr/bin/clang
  [llvm]=/usr/bin/llvm-strip
  [libbpf-dev]=/usr/include/bpf/libbpf.h
  [bpftool]=/usr/sbin/bpftool
  [libelf-dev]=/usr/include/libelf.h
  [zlib1g-dev]=/usr/include/zlib.h
  [make]=/usr/bin/make
  [gcc]=/usr/bin/gcc
  [pkg-config]=/usr/bin/pkg-config
  [iproute2]=/usr/sbin/ip
  [iputils-ping]=/usr/bin/ping
  [iperf3]=/usr/bin/iperf3
  [python3]=python3
  [openssl]=openssl
  [nftables]=/usr/sbin/nft
  [g++]=/usr/bin/g++
  [tcpdump]=/usr/bin/tcpdump
  [tshark]=/usr/bin/tshark
  [prometheus]=/usr/bin/prometheus
  [protobuf-compiler]=/usr/bin/protoc
  [libprotobuf-dev]=/usr/include/google/protobuf/descriptor.proto
  [python3-grpcio]=/usr/lib/python3/dist-packages/grpc/__init__.py
  [python3-protobuf]=/usr/lib/python3/dist-packages/google/protobuf/__init__.py
)
missing=()
for pkg in "${!probe[@]}"; do
  what=${probe[$pkg]}
  if [[ $what == /* ]]; then [ -e "$what" ] && continue; else command -v "$what" >/dev/null 2>&1 && continue; fi
  missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: missing system packages: ${missing[*]}" >&2
    echo "setup: run as root (sudo bash scripts/setup.sh) or: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm dependencies: reinstall only when the lockfile changed since the last install.
stamp=node_modules/.calitrace-lock-stamp
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  echo "setup: installing npm dependencies"
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi
