#!/usr/bin/env bash
# Local equivalents of docker/Dockerfile's two base images, for an engine that reaches no image
# registry (`make docker` calls this when it cannot pull them):
#
#   scripts/docker-base-images.sh          makes what is missing, prints the two build arguments:
#       SWIFT_IMAGE=snapshotd-local/swift:<this machine's Swift>-bookworm
#       RUNTIME_IMAGE=snapshotd-local/debian:bookworm-slim
#
#   runtime: Debian 12 bookworm from debootstrap (minbase, with the slim image's dpkg excludes:
#            no docs, man pages or locales), apt sources as debian:bookworm-slim has them
#            (bookworm, bookworm-updates, bookworm-security), imported with `docker import`.
#   build:   the same, plus what the official swift:X-bookworm image installs for its toolchain
#            (binutils for gold, gcc, libstdc++-12-dev, git, the -dev libraries), plus this
#            machine's toolchain (/opt/swift/usr -> /usr, without lldb, sourcekit-lsp, clangd,
#            docc, swift-format and Embedded Swift, which a `swift build` never runs), plus this
#            machine's Swift package mirror (/opt/swift-packages) and the git `url.insteadOf`
#            rules that send github.com URLs to it, so that `swift package resolve` finds every
#            dependency with no network.
#
# An image that exists is kept (rebuilt only when missing; `docker rmi` it to remake it). Needs
# root (debootstrap) and Debian's mirror; installs debootstrap when missing. Work space: about
# 3 GB under $WORK while it runs; the deb cache ($DEB_CACHE) is kept for the next run.
set -euo pipefail

# The toolchain: the directory that has usr/bin/swift, of the swift on PATH (here /opt/swift).
swift_on_path=$(command -v "${SWIFT:-swift}" 2>/dev/null || true)
TOOLCHAIN=${TOOLCHAIN:-$(if [ -n "$swift_on_path" ]; then dirname "$(dirname "$(dirname "$(readlink -f "$swift_on_path")")")"; else echo /opt/swift; fi)}
PACKAGE_MIRROR=${PACKAGE_MIRROR:-/opt/swift-packages}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
SUITE=bookworm
PREFIX=${LOCAL_IMAGE_PREFIX:-snapshotd-local}
WORK=${WORK:-/var/tmp/snapshotd-base-images}
DEB_CACHE=${DEB_CACHE:-/var/cache/snapshotd-debootstrap}
DOCKER=${DOCKER:-docker}                          # the client (scripts/docker-engine.sh picks it)

fail() { echo "docker-base-images: FAIL: $*" >&2; exit 1; }
log() { echo "docker-base-images: $*" >&2; }

[ "$(id -u)" -eq 0 ] || fail "debootstrap needs root (run as root, as CI does)"
"$DOCKER" info >/dev/null 2>&1 || fail "no Docker engine answers 'docker info'"
[ -x "$TOOLCHAIN/usr/bin/swift" ] || fail "no Swift toolchain at $TOOLCHAIN/usr/bin/swift (set TOOLCHAIN)"
swift_version=$("$TOOLCHAIN/usr/bin/swift" --version 2>&1 | sed -n 's/.*Swift version \([0-9][0-9.]*\).*/\1/p' | head -n 1)
[ -n "$swift_version" ] || fail "cannot read the version of $TOOLCHAIN/usr/bin/swift"

RUNTIME_IMAGE=$PREFIX/debian:$SUITE-slim
SWIFT_IMAGE=$PREFIX/swift:$swift_version-$SUITE

# What swift:X-bookworm installs (swiftlang/swift-docker, debian/12), less libpython3-dev, which
# only lldb needs, and tzdata. --no-install-recommends keeps it close to that list.
SWIFT_DEBS=binutils,gcc,libc6-dev,libstdc++-12-dev,libgcc-12-dev,git,pkg-config,libcurl4-openssl-dev,libxml2-dev,libicu-dev,libedit-dev,libsqlite3-dev,libncurses-dev,uuid-dev,zlib1g-dev,ca-certificates

have_image() { "$DOCKER" image inspect "$1" >/dev/null 2>&1; }

if ! command -v debootstrap >/dev/null 2>&1 && ! { have_image "$RUNTIME_IMAGE" && have_image "$SWIFT_IMAGE"; }; then
    log "installing debootstrap (Debian)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
fi

# rootfs DIR [--include=...]: a bookworm minbase root file system, made like debian:bookworm-slim.
rootfs() {
    local dir=$1
    shift
    rm -rf "$dir"
    mkdir -p "$dir" "$DEB_CACHE"
    local start=$SECONDS
    debootstrap --variant=minbase --cache-dir="$DEB_CACHE" "$@" "$SUITE" "$dir" "$MIRROR" >"$dir.log" 2>&1 ||
        { tail -n 30 "$dir.log" >&2; fail "debootstrap $SUITE $dir (log: $dir.log)"; }
    log "debootstrap $* $SUITE: $((SECONDS - start)) s"
    # The slim image's dpkg excludes, for what later apt-get installs too; what debootstrap
    # already unpacked there goes now.
    cat >"$dir/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
EOF
    find "$dir/usr/share/doc" -mindepth 1 ! -name copyright ! -type d -delete 2>/dev/null || true
    find "$dir/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
    rm -rf "$dir"/usr/share/man/* "$dir"/usr/share/info/* "$dir"/usr/share/locale/*
    # apt as the official image has it: sources (deb822), no cache kept after an install.
    rm -f "$dir/etc/apt/sources.list"
    cat >"$dir/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $SECURITY_MIRROR
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    cat >"$dir/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
    echo 'Acquire::Languages "none";' >"$dir/etc/apt/apt.conf.d/docker-no-languages"
    # debootstrap takes the point release; the official image has bookworm-updates and the
    # security updates applied too. (No service is started in the chroot: policy-rc.d.)
    start=$SECONDS
    printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d"
    chmod 0755 "$dir/usr/sbin/policy-rc.d"
    { chroot "$dir" apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive chroot "$dir" apt-get -y -qq -o Dpkg::Use-Pty=0 dist-upgrade; } >>"$dir.log" 2>&1 ||
        { tail -n 30 "$dir.log" >&2; fail "apt-get dist-upgrade in $dir (log: $dir.log)"; }
    rm -f "$dir/usr/sbin/policy-rc.d"
    log "apt-get dist-upgrade ($SUITE-updates, $SUITE-security): $((SECONDS - start)) s"
    rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/archives/*.deb "$dir"/var/log/* "$dir"/tmp/*
    # The engine provides these at run time (a copy of this machine's would be wrong there).
    rm -f "$dir/etc/resolv.conf" "$dir/etc/hostname"
    : >"$dir/etc/resolv.conf"
    : >"$dir/etc/hostname"
}

# import DIR TAG: the root file system as a one-layer image.
import() {
    local start=$SECONDS
    tar --numeric-owner --xattrs -C "$1" -c . |
        "$DOCKER" import \
            --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            --change 'CMD ["bash"]' \
            --message "snapshotd: local $2 (debootstrap $SUITE, scripts/docker-base-images.sh)" \
            - "$2" >/dev/null || fail "docker import $2"
    log "docker import $2: $((SECONDS - start)) s, $("$DOCKER" image inspect -f '{{.Size}}' "$2" | awk '{ printf "%.0f MB", $1 / 1e6 }')"
}

mkdir -p "$WORK"
if have_image "$RUNTIME_IMAGE"; then
    log "$RUNTIME_IMAGE exists: kept"
else
    rootfs "$WORK/runtime"
    import "$WORK/runtime" "$RUNTIME_IMAGE"
    rm -rf "$WORK/runtime"
fi

if have_image "$SWIFT_IMAGE"; then
    log "$SWIFT_IMAGE exists: kept"
else
    [ -d "$PACKAGE_MIRROR" ] || fail "no Swift package mirror at $PACKAGE_MIRROR (set PACKAGE_MIRROR)"
    dir=$WORK/swift
    rootfs "$dir" --include="$SWIFT_DEBS"
    start=$SECONDS
    # The toolchain where the official image has it (/usr), less what a build never runs.
    tar -C "$TOOLCHAIN" -c \
        --exclude='usr/bin/lldb*' --exclude='usr/lib/liblldb*' --exclude='usr/lib/python3*' \
        --exclude='usr/bin/repl_swift' \
        --exclude='usr/bin/sourcekit-lsp' --exclude='usr/lib/libsourcekitdInProc.so' \
        --exclude='usr/lib/libSwiftSourceKit*' \
        --exclude='usr/bin/clangd' --exclude='usr/bin/docc' --exclude='usr/share/docc' \
        --exclude='usr/bin/swift-format' --exclude='usr/bin/wasmkit' \
        --exclude='usr/lib/swift/embedded' --exclude='usr/share/doc' --exclude='usr/share/man' \
        usr | tar -C "$dir" -x --keep-directory-symlink
    # The package mirror, and git's rewriting of github.com URLs to it, as on this machine.
    mkdir -p "$dir$PACKAGE_MIRROR"
    cp -a "$PACKAGE_MIRROR/." "$dir$PACKAGE_MIRROR/"
    cat >"$dir/etc/gitconfig" <<EOF
# scripts/docker-base-images.sh: dependencies resolve from the package mirror copied in.
[url "$PACKAGE_MIRROR/"]
	insteadOf = https://github.com/
	insteadOf = git@github.com:
	insteadOf = ssh://git@github.com/
EOF
    log "toolchain ($swift_version) and package mirror copied: $((SECONDS - start)) s, $(du -sh "$dir" | cut -f1) in all"
    import "$dir" "$SWIFT_IMAGE"
    rm -rf "$dir"
    # It runs: the compiler and the package manager, in the image.
    "$DOCKER" run --rm --network none "$SWIFT_IMAGE" sh -c 'swift --version && swift package --version && git config --system --list' >&2 ||
        { "$DOCKER" rmi "$SWIFT_IMAGE" >/dev/null 2>&1 || true; fail "the toolchain does not run in $SWIFT_IMAGE"; }
fi

echo "SWIFT_IMAGE=$SWIFT_IMAGE"
echo "RUNTIME_IMAGE=$RUNTIME_IMAGE"
