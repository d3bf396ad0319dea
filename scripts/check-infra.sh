#!/usr/bin/env bash
# Static checks of infra/: every YAML file parses; with the tools installed, the compose file
# resolves (`docker compose config` or docker-compose), the Kubernetes manifests render
# (`kubectl kustomize`) and the systemd units verify (`systemd-analyze verify`).
set -euo pipefail
cd "$(dirname "$0")/../infra"

python3 - <<'PY'
import glob, yaml
files = sorted(glob.glob("compose/*.y*ml") + glob.glob("k8s/*.yaml"))
for name in files:
    list(yaml.safe_load_all(open(name)))
print(f"yaml: {len(files)} files parse")
PY

secrets_made=""
if [ ! -d compose/secrets ]; then
    # Placeholders so the compose file resolves; removed again below.
    mkdir -p compose/secrets && secrets_made=1
    printf 'placeholder-audit-key-of-at-least-32-characters\n' > compose/secrets/audit.key
    printf 'placeholder\n' > compose/secrets/db_password
fi
if docker compose version >/dev/null 2>&1; then
    (cd compose && docker compose config --quiet \
        && docker compose -f compose.yaml -f compose.offline.yaml config --quiet) \
        && echo "compose: docker compose config ok (with and without compose.offline.yaml)"
elif command -v docker-compose >/dev/null; then
    (cd compose && docker-compose config --quiet \
        && docker-compose -f compose.yaml -f compose.offline.yaml config --quiet) \
        && echo "compose: docker-compose config ok (with and without compose.offline.yaml)"
else
    echo "compose: no docker compose here; skipped"
fi
[ -n "$secrets_made" ] && rm -r compose/secrets

if command -v kubectl >/dev/null; then
    kubectl kustomize k8s >/dev/null && echo "k8s: kubectl kustomize renders"
else
    echo "k8s: no kubectl here; skipped"
fi

if command -v systemd-analyze >/dev/null; then
    scratch="$(mktemp -d)"
    cp systemd/*.service systemd/*.timer "$scratch/"
    # verify wants the binary the units name to exist: point them at /bin/true.
    sed -i 's#/usr/local/bin/child-registry#/bin/true#' "$scratch"/*.service
    systemd-analyze verify --man=no "$scratch"/*.service "$scratch"/*.timer \
        && echo "systemd: units verify"
    rm -r "$scratch"
else
    echo "systemd: no systemd-analyze here; skipped"
fi
