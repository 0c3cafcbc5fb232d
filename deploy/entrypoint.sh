#!/bin/sh
# The container's entry point: simctl, with a fleet role as a short word, the packs mounted at
# $SIMCTL_HOME, and a bounded wait for Kafka (containers of a compose or a cluster start in
# any order; a fleet process refuses a broker that does not answer).
#
#   orchestrator [flags]   simctl orchestrator run [flags]
#   worker [flags]         simctl worker run [flags]
#   metrics [flags]        simctl metrics run [flags]
#   admin [flags]          simctl admin run --admin-host 0.0.0.0 [flags] (needs SIMCTL_ADMIN_TOKEN)
#   anything else          simctl anything else (scenario start fraud-attack, status, --help)
#
# Packs: a folder laid out like the project (producers/<domain>/, schemas/<domain>/,
# scenarios/<domain>/) mounted at SIMFLEET_PACKS (default /packs): its domains and scenarios
# join the built-in ones. SIMCTL_HOME, as everywhere, instead replaces the built-in data root
# with a whole project of your own (its producers/, schemas/ with _shared/, scenarios/).
# Environment: SIMFLEET_WAIT_FOR_KAFKA (seconds to wait for SIMCTL_BOOTSTRAP_SERVERS, default 120, 0: no
# wait), SIMFLEET_SIMCTL (the simctl to run, default simctl), and every SIMCTL_* setting.
set -eu

packs="${SIMFLEET_PACKS:-/packs}"
if [ -z "${SIMCTL_PACK_DIRS:-}" ]; then
    for sub in producers schemas scenarios; do
        if [ -d "$packs/$sub" ]; then
            export SIMCTL_PACK_DIRS="[\"$packs\"]"
            break
        fi
    done
fi

role="${1:---help}"
[ "$#" -gt 0 ] && shift
case "$role" in
    orchestrator | worker | metrics) set -- "$role" run "$@" ;;
    admin) set -- admin run --admin-host "${SIMFLEET_ADMIN_HOST:-0.0.0.0}" "$@" ;;
    *) set -- "$role" "$@" ;;
esac

case "$1" in
    orchestrator | worker | metrics | admin | scenario | status | inject | speed | reset | tail)
        wait_s="${SIMFLEET_WAIT_FOR_KAFKA:-120}"
        if [ -n "${SIMCTL_BOOTSTRAP_SERVERS:-}" ] && [ "$wait_s" != 0 ]; then
            python3 - "$SIMCTL_BOOTSTRAP_SERVERS" "$wait_s" <<'PY' || exit 69
import sys
import time

from simfleet.broker.embedded import check_reachable
from simfleet.errors import BrokerError

bootstrap, limit = sys.argv[1], float(sys.argv[2])
deadline = time.monotonic() + limit
while True:
    try:
        check_reachable(bootstrap, timeout=min(10.0, max(1.0, deadline - time.monotonic())))
        break
    except BrokerError as exc:
        if time.monotonic() >= deadline:
            print(f"error: Kafka at {bootstrap} did not answer within {limit:g} s "
                  f"(SIMFLEET_WAIT_FOR_KAFKA): {exc}", file=sys.stderr)
            sys.exit(1)
PY
        fi
        ;;
esac

exec ${SIMFLEET_SIMCTL:-simctl} "$@"
