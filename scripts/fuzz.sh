#!/usr/bin/env bash
# Runs every fuzz target in the module for a short time each: scripts/fuzz.sh 3s
set -euo pipefail
cd "$(dirname "$0")/.."
t="${1:-3s}"
n=0
while IFS= read -r line; do
  file=${line%%:*}
  fn=$(sed -E 's/.*func (Fuzz[A-Za-z0-9_]*).*/\1/' <<<"$line")
  pkg="./$(dirname "$file")"
  echo "fuzz $pkg $fn ($t)"
  go test -run '^$' -fuzz "^${fn}\$" -fuzztime "$t" "$pkg" >/tmp/payd-fuzz.log 2>&1 || { cat /tmp/payd-fuzz.log; exit 1; }
  n=$((n+1))
done < <(grep -rEn --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*\(' . | grep -v '/.cache/' | sort)
echo "fuzz: $n targets ok"
