#!/usr/bin/env bash
# Installs the pinned local nodes and tools payd's tests and demo need into .cache/
# (inside the repo, git-ignored). Idempotent: a tool already present is skipped.
#
#   scripts/install-tools.sh [btcd] [anvil] [geth] [lnd] [bolt11] [npm] [chromium] [postgres]   (default: all)
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
BITCOINJS_VERSION=6.1.7 # the refund tests' independent PSBT decoder (test/e2e/refund_test.go)
LND_VERSION=v0.19.3-beta
# invoicesrpc: the /v2/invoices/* REST routes (cancel, hodl) payd's expiry uses.
LND_TAGS="invoicesrpc"
# An independent BOLT11 decoder (npm) the Lightning tests check payd's invoices with.
BOLT11_VERSION=3.2.0

want() { [ $# -eq 0 ] && return 0; for t in "${ALL[@]}"; do [ "$t" = "$1" ] && return 0; done; return 1; }
ALL=("$@")
[ ${#ALL[@]} -eq 0 ] && ALL=(btcd anvil geth lnd bolt11 npm chromium postgres)

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

if want lnd && ! { [ -x "$BIN/lnd" ] && [ -x "$BIN/lncli" ]; }; then
  # lnd's go.mod has replace directives, so `go install …@version` refuses it:
  # fetch the pinned module through the proxy and build it as the main module.
  log "lnd $LND_VERSION tags=[$LND_TAGS] (go build, ~6-10 min on 2 cores)"
  LND_DIR=$(GOFLAGS=-mod=mod go mod download -json "github.com/lightningnetwork/lnd@$LND_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -n "$LND_DIR" ] || { log "lnd: go mod download gave no directory"; exit 1; }
  (cd "$LND_DIR" && GOFLAGS=-mod=readonly go build -trimpath -tags="$LND_TAGS" -o "$BIN/lnd" ./cmd/lnd \
    && GOFLAGS=-mod=readonly go build -trimpath -tags="$LND_TAGS" -o "$BIN/lncli" ./cmd/lncli)
fi

if want bolt11 && ! [ -f "$CACHE/npm/node_modules/light-bolt11-decoder/package.json" ]; then
  log "light-bolt11-decoder $BOLT11_VERSION (npm)"
  npm install --silent --no-audit --no-fund --prefix "$CACHE/npm" "light-bolt11-decoder@$BOLT11_VERSION" >&2
fi

if want chromium && ! command -v chromium >/dev/null 2>&1; then
  log "chromium (apt)"
  if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
  $SUDO apt-get update -qq >&2 || true
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >&2
fi
if want npm && ! [ -f "$CACHE/npm/node_modules/bitcoinjs-lib/package.json" ]; then
  log "bitcoinjs-lib $BITCOINJS_VERSION (npm)"
  npm install --silent --no-audit --no-fund --prefix "$CACHE/npm" "bitcoinjs-lib@$BITCOINJS_VERSION" >&2
fi

if want postgres && ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  log "postgresql server (apt)"
  if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
  $SUDO apt-get update -qq >&2 || true
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >&2
fi

log "ok ($BIN)"
