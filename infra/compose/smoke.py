#!/usr/bin/env python3
"""Starts the two-node deployment of compose.yaml and checks that it works end to end.

- Both gateways become ready on the one PostgreSQL, each with its own search index.
- A record registered through one gateway is found through the other within 2 seconds, both ways.
- A merge decided through one gateway is seen through both: the merged child answers with
  `merged_into`, and its name finds the survivor in both indexes within 2 seconds.
- Prometheus scrapes both nodes; the collector receives the gateways' traces.
- `docker compose stop` drains a gateway and it exits 0.

Afterwards the deployment and its volumes are removed (--keep leaves it running).

    python3 infra/compose/smoke.py              # the official images, from Docker Hub
    python3 infra/compose/smoke.py --offline    # local stand-ins: offline/build-standins.sh first

Needs Docker with Compose (the `docker compose` plugin or docker-compose) and free ports 8081,
8082, 9090 and 4318 on this machine. The children it registers are made up.
"""

import argparse
import json
import secrets
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
NODES = {"gateway-a": "http://127.0.0.1:8081", "gateway-b": "http://127.0.0.1:8082"}
PROMETHEUS = "http://127.0.0.1:9090"
FOUND_WITHIN_SECONDS = 2.0


class Compose:
    def __init__(self, offline: bool):
        files = ["-f", "compose.yaml"] + (["-f", "compose.offline.yaml"] if offline else [])
        plugin = subprocess.run(
            ["docker", "compose", "version"], capture_output=True, check=False
        )
        self.command = (["docker", "compose"] if plugin.returncode == 0 else ["docker-compose"]) + files

    def run(self, *args: str, capture: bool = False) -> str:
        result = subprocess.run(
            self.command + list(args),
            cwd=HERE,
            check=True,
            text=True,
            stdout=subprocess.PIPE if capture else None,
        )
        return result.stdout if capture else ""


def request(method: str, url: str, key: str | None = None, body=None, headers=None):
    """Returns (status, headers, parsed JSON body or None)."""
    data = json.dumps(body).encode() if body is not None else None
    sent = {"Content-Type": "application/json"} if data else {}
    if key:
        sent["Authorization"] = f"Bearer {key}"
    sent.update(headers or {})
    req = urllib.request.Request(url, data=data, method=method, headers=sent)
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            text = response.read()
            return response.status, response.headers, json.loads(text) if text else None
    except urllib.error.HTTPError as error:
        text = error.read()
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = text.decode(errors="replace")
        return error.code, error.headers, parsed


def expect(status: int, wanted: int, what: str, body) -> None:
    if status != wanted:
        raise SystemExit(f"{what}: HTTP {status}, expected {wanted}: {body}")


def wait_until(what: str, seconds: float, check) -> float:
    started = time.monotonic()
    while True:
        try:
            if check():
                return time.monotonic() - started
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() - started > seconds:
            raise SystemExit(f"timed out after {seconds:.0f} s waiting for {what}")
        time.sleep(0.05)


def ready(url: str) -> bool:
    status, _, _ = request("GET", f"{url}/readyz")
    return status == 200


def finds(url: str, key: str, text: str, child_id: str) -> bool:
    query = urllib.parse.urlencode({"q": text, "limit": 50})
    status, _, body = request("GET", f"{url}/v1/search?{query}", key)
    expect(status, 200, f"search {url}", body)
    return any(hit["child_id"] == child_id for hit in body["hits"])


def found_within(url: str, key: str, text: str, child_id: str, what: str) -> float:
    took = wait_until(f"{what} ({text!r} -> {child_id} at {url})", 30, lambda: finds(url, key, text, child_id))
    print(f"  {what}: {took * 1000:.0f} ms")
    if took > FOUND_WITHIN_SECONDS:
        raise SystemExit(f"{what} took {took:.2f} s (at most {FOUND_WITHIN_SECONDS} s)")
    return took


def create_client(compose: Compose, name: str, role: str, agency: str | None = None) -> str:
    args = ["exec", "-T", "gateway-a", "child-registry", "clients", "create", "--name", name, "--role", role]
    if agency:
        args += ["--agency", agency]
    key = compose.run(*args, capture=True).strip().splitlines()[-1].strip()
    if not key.startswith("crk_"):
        raise SystemExit(f"clients create printed no key: {key!r}")
    return key


def record(number: int, given: str, family: str, sex: str, born: str, district: str) -> dict:
    return {
        "source_system": "police-ug",
        "source_record_id": f"SMOKE-{int(time.time())}-{number}",
        "child": {
            "given_name": given,
            "family_name": family,
            "sex": sex,
            "date_of_birth": born,
            "district": district,
        },
    }


def check_deployment(compose: Compose) -> None:
    for service, url in NODES.items():
        took = wait_until(f"{service} ready", 300, lambda url=url: ready(url))
        print(f"{service} ready after {took:.0f} s more")

    agency = create_client(compose, "Smoke test police unit", "agency", "police-ug")
    official = create_client(compose, "Smoke test official", "national_official")
    steward = create_client(compose, "Smoke test steward", "data_steward")

    # Made-up children, one registered through each node and looked for through the other.
    bodies = [
        record(1, "Abalo", "Okelloyi", "F", "2015-04-12", "Gulu"),
        record(2, "Kisaka", "Ssemwogere", "M", "2013-09-30", "Mukono"),
    ]
    nodes = list(NODES.items())
    children = []
    print("registered through one node, found through the other:")
    for through, body in enumerate(bodies):
        (_, write_url), (read_name, read_url) = nodes[through], nodes[1 - through]
        status, _, created = request("POST", f"{write_url}/v1/records", agency, body)
        expect(status, 201, f"register through {write_url}", created)
        child = created["child_id"]
        children.append(child)
        name = f"{body['child']['given_name']} {body['child']['family_name']}"
        found_within(read_url, official, name, child, f"{child} through {read_name}")

    print("a merge decided through gateway-b, seen through both:")
    merged, survivor = children
    status, headers, body = request("GET", f"{nodes[1][1]}/v1/children/{merged}", steward)
    expect(status, 200, "read before merging", body)
    status, _, body = request(
        "POST",
        f"{nodes[1][1]}/v1/children/{merged}/merge",
        steward,
        {"into": survivor, "reason": "smoke test: the same child"},
        {"If-Match": headers["ETag"]},
    )
    expect(status, 200, "merge", body)
    merged_name = f"{bodies[0]['child']['given_name']} {bodies[0]['child']['family_name']}"
    for name, url in nodes:
        status, _, view = request("GET", f"{url}/v1/children/{merged}", official)
        expect(status, 200, f"merged child through {name}", view)
        if view.get("merged_into") != survivor:
            raise SystemExit(f"{name}: {merged} should answer merged_into {survivor}: {view}")
        found_within(url, official, merged_name, survivor, f"the survivor by the merged name through {name}")

    print("Prometheus scrapes both nodes:")

    def both_up() -> bool:
        status, _, body = request("GET", f"{PROMETHEUS}/api/v1/targets")
        if status != 200:
            return False
        health = {t["labels"]["instance"]: t["health"] for t in body["data"]["activeTargets"]}
        return health.get("gateway-a:9464") == "up" and health.get("gateway-b:9464") == "up"

    took = wait_until("both scrape targets up", 60, both_up)
    print(f"  both targets up ({took:.0f} s)")

    print("the collector receives traces:")

    def traces_logged() -> bool:
        logs = compose.run("logs", "--no-color", "otel-collector", capture=True)
        # The stand-in logs each export; the real collector's debug exporter logs span counts.
        return "otlp export /v1/traces" in logs or '"spans"' in logs or "Traces" in logs

    took = wait_until("traces at the collector", 60, traces_logged)
    print(f"  traces logged ({took:.0f} s)")

    print("a gateway stops cleanly:")
    compose.run("stop", "gateway-b")
    container = compose.run("ps", "-q", "gateway-b", capture=True).strip()
    exit_code = subprocess.run(
        ["docker", "inspect", "--format", "{{.State.ExitCode}}", container],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    if exit_code != "0":
        raise SystemExit(f"gateway-b exited {exit_code} on stop")
    print("  gateway-b exited 0")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--offline", action="store_true", help="use compose.offline.yaml's stand-in images")
    parser.add_argument("--keep", action="store_true", help="leave the deployment running")
    args = parser.parse_args()
    compose = Compose(args.offline)

    secrets_dir = HERE / "secrets"
    made_secrets = not secrets_dir.exists()
    if made_secrets:
        secrets_dir.mkdir(mode=0o700)
        (secrets_dir / "audit.key").write_text(secrets.token_urlsafe(32) + "\n")
        (secrets_dir / "db_password").write_text(secrets.token_urlsafe(18) + "\n")
        for file in secrets_dir.iterdir():
            file.chmod(0o644)

    ok = False
    try:
        compose.run("up", "-d", "--build")
        check_deployment(compose)
        ok = True
        print("two-node deployment: OK")
    finally:
        if not ok:
            compose.run("ps")
            compose.run("logs", "--no-color", "--tail=30")
        if not args.keep:
            compose.run("down", "-v", "--remove-orphans")
            if made_secrets:
                shutil.rmtree(secrets_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
