#!/usr/bin/env bash
# Builds local stand-ins for the images compose.yaml takes from Docker Hub, for a machine that
# cannot reach it (this project's development machines reach Debian's mirror but no container
# registry). Each is built from Debian packages and named standin/...; compose.offline.yaml
# points the deployment at them. Nothing here replaces an official image where one can be
# pulled. Needs: a running Docker daemon, root (debootstrap), the machine's Rust toolchain.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

if ! docker image inspect standin/debian-minbase >/dev/null 2>&1; then
    command -v debootstrap >/dev/null || apt-get install -y -q debootstrap
    echo "standin/debian-minbase: debootstrap from $mirror"
    debootstrap --variant=minbase bookworm "$scratch/rootfs" "$mirror" >"$scratch/debootstrap.log" \
        || { tail -20 "$scratch/debootstrap.log"; exit 1; }
    rm -rf "$scratch"/rootfs/var/cache/apt/archives/*.deb "$scratch"/rootfs/var/lib/apt/lists/*
    tar -C "$scratch/rootfs" -c . | docker import - standin/debian-minbase
    rm -rf "$scratch/rootfs"
fi

# The base of every stand-in trusts this machine's local certificate authorities.
mkdir -p "$scratch/debian/local-ca"
cp "$here/debian/Dockerfile" "$scratch/debian/"
find /usr/local/share/ca-certificates -name '*.crt' -exec cp {} "$scratch/debian/local-ca/" \; 2>/dev/null || true
docker build -q -t standin/debian:bookworm-slim "$scratch/debian"

# The Rust image carries this machine's toolchain (the one the test suite runs with).
mkdir "$scratch/rust"
cp "$here/rust/Dockerfile" "$scratch/rust/"
cp -a "$(rustc --print sysroot)" "$scratch/rust/toolchain"
rm -rf "$scratch/rust/toolchain/share/doc"
docker build -q -t standin/rust:bookworm "$scratch/rust"
rm -rf "$scratch/rust"

for image in postgres prometheus otel-collector; do
    docker build -q -t "standin/$image" "$here/$image"
done
docker image ls 'standin/*'
