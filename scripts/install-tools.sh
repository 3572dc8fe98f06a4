#!/usr/bin/env bash
# Installs the pinned local nodes and tools payd's tests and demo need into .cache/
# (inside the repo, git-ignored). Idempotent: a tool already present is skipped.
#
#   scripts/install-tools.sh [btcd] [anvil] [geth] [chromium] [postgres]   (default: all)
#
# postgres: Debian's PostgreSQL server packages (initdb, postgres) when no
# /usr/lib/postgresql/*/bin/postgres exists; the tests run a private cluster
# of their own from them (internal/testnode), never the system's.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE="${PAYD_CACHE:-$PWD/.cache}"
BIN="$CACHE/bin"
mkdir -p "$BIN"

BTCD_VERSION=v0.26.2
ANVIL_VERSION=1.7.1
GETH_VERSION=v1.16.7

want() { [ $# -eq 0 ] && return 0; for t in "${ALL[@]}"; do [ "$t" = "$1" ] && return 0; done; return 1; }
ALL=("$@")
[ ${#ALL[@]} -eq 0 ] && ALL=(btcd anvil geth chromium postgres)

log() { printf 'install-tools: %s\n' "$*" >&2; }

if want btcd && ! [ -x "$BIN/btcd" ]; then
  log "btcd $BTCD_VERSION (go install)"
  GOBIN="$BIN" GOFLAGS=-mod=mod go install "github.com/btcsuite/btcd@$BTCD_VERSION" "github.com/btcsuite/btcd/cmd/btcctl@$BTCD_VERSION"
fi

if want anvil && ! [ -x "$BIN/anvil" ]; then
  log "anvil $ANVIL_VERSION (npm)"
  npm install --silent --no-audit --no-fund --prefix "$CACHE/npm" "@foundry-rs/anvil-linux-amd64@$ANVIL_VERSION" >&2
  ln -sf "$CACHE/npm/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil" "$BIN/anvil"
fi

if want geth && ! [ -x "$BIN/geth" ]; then
  log "geth $GETH_VERSION (go install, ~2 min)"
  GOBIN="$BIN" GOFLAGS=-mod=mod go install "github.com/ethereum/go-ethereum/cmd/geth@$GETH_VERSION"
fi

if want chromium && ! command -v chromium >/dev/null 2>&1; then
  log "chromium (apt)"
  if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
  $SUDO apt-get update -qq >&2 || true
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >&2
fi
if want postgres && ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  log "postgresql server (apt)"
  if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
  $SUDO apt-get update -qq >&2 || true
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >&2
fi
log "ok ($BIN)"
