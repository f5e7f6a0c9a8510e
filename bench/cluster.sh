#!/usr/bin/env bash
# bench/cluster.sh - scale-out benchmark of the PostgreSQL job queue (issue 9;
# `make bench` runs it): 1 vs 2 worker processes on CPU-bound scans, the
# queue's overhead per scan, and 10,000 small scans draining. The work is in
# bench/cluster.py (a throwaway PostgreSQL cluster from tests/e2e/pglib.py,
# one `serve --role api` and `serve --role worker --workers 1` processes on
# 127.0.0.1); it rewrites the "## Cluster (PostgreSQL)" section of
# bench/RESULTS.md and exits 1 when a target is missed.
#
# Environment: MODELGATE (default build/release/modelgate), CPU_SCANS (60), CPU_ROUNDS (3),
# OVERHEAD_SCANS (1000), DRAIN_SCANS (10000), CLIENTS (POST connections, 4).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${MODELGATE:-}" ]; then
    make -s all
    MODELGATE=build/release/modelgate
fi
exec /usr/bin/python3 bench/cluster.py "$MODELGATE" bench/RESULTS.md
