#!/usr/bin/env bash
# The device side (everything but espnet_edge/host) must be valid Python 3.6 (JetPack 4.6 on TX2).
set -euo pipefail
cd "$(dirname "$0")/.."
files=$(find espnet_edge -name '*.py' -not -path 'espnet_edge/host/*' | sort)
vermin --no-tips --violations --eval-annotations --target=3.6- --backport typing $files
echo "vermin: $(echo "$files" | wc -l) device-side files are valid Python 3.6"
