"""The HTTP service: same answers as the CLI, tokens and scopes, limits, jobs, a real server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from support.net import free_port, wait_for_health
from typer.testing import CliRunner

from thread.cli.main import app as cli
from thread.clock import utc_now
from thread.http import Settings, create_app
from thread.http.tokens import TokenStore
from thread.pipeline.imports import import_folder
from thread.stores import open_store
from thread.stores.embedded_server import EmbeddedServer

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "pump-fleet"
LIFECYCLE = Path(__file__).resolve().parent / "data" / "lifecycle"
runner = CliRunner()


@pytest.fixture(scope="module")
def fleet_spec(embedded_home: Path) -> str:
    spec = f"embedded:{embedded_home}#api{uuid.uuid4().hex[:8]}"
    with open_store(spec) as store:
        import_folder(store, EXAMPLE)
    return spec


@pytest.fixture(scope="module")
def tokens(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    store = TokenStore(tmp_path_factory.mktemp("tokens") / "tokens.json")
    secrets = {
        scope: store.create(f"{scope}-client", scope, utc_now())[1]
        for scope in ("read", "write", "admin")
    }
    return {"store": store, **secrets}


@pytest.fixture(scope="module")
def client(fleet_spec: str, tokens: dict[str, Any]) -> Iterator[TestClient]:
    settings = Settings(
        store=fleet_spec,
        tokens=tokens["store"].path,
        query_timeout_ms=50,
        row_limit=5,
        max_upload_bytes=20_000,
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def auth(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def finished_job(client: TestClient, job_id: str, secret: str, tries: int) -> dict[str, Any]:
    """The job once it has succeeded or failed, or as it stands after `tries` polls."""
    for _ in range(tries):
        job: dict[str, Any] = client.get(f"/jobs/{job_id}", headers=auth(secret)).json()
        if job["status"] in ("succeeded", "failed"):
            break
        time.sleep(0.05)
    return job


def cli_json(spec: str, *args: str) -> Any:
    result = runner.invoke(cli, ["--store", spec, "--quiet", *args, "--json"])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


SAME_AS_CLI = [
    ("/entities/unit:P-100/SN-0012", ("show", "unit:P-100/SN-0012")),
    ("/trace/unit:P-100/SN-0012", ("trace", "unit:P-100/SN-0012")),
    ("/trace/unit:P-100/SN-0012?sections=structure,sensors&depth=1",
     ("trace", "unit:P-100/SN-0012", "--sections", "structure,sensors", "--depth", "1")),
    ("/where-used/W-230", ("where-used", "W-230")),
    ("/recall/lot:LOT-B-2302", ("recall", "lot:LOT-B-2302")),
    ("/recall/lot:LOT-B-2302?as_of=2024-06-01", ("recall", "lot:LOT-B-2302", "--as-of", "2024-06-01")),
    ("/as-of/unit:P-100/SN-0012?date=2024-05-01", ("as-of", "unit:P-100/SN-0012", "2024-05-01")),
    ("/diff/unit:P-100/SN-0030", ("diff", "unit:P-100/SN-0030")),
    ("/path?source=unit:P-100/SN-0012&target=supplier:SUP-ST", ("path", "unit:P-100/SN-0012", "supplier:SUP-ST")),
    ("/twins", ("twin", "list")),
    ("/twins/atwin:P-100/B", ("twin", "show", "atwin:P-100/B")),
]  # fmt: skip


@pytest.mark.parametrize(("url", "command"), SAME_AS_CLI, ids=[c[0] for _, c in SAME_AS_CLI])
def test_every_answer_is_the_clis_json(
    client: TestClient, tokens: dict[str, Any], fleet_spec: str, url: str, command: tuple[str, ...]
) -> None:
    response = client.get(url, headers=auth(tokens["read"]))
    assert response.status_code == 200, response.text
    assert response.json() == cli_json(fleet_spec, *command)


def test_status_and_query(client: TestClient, tokens: dict[str, Any]) -> None:
    status = client.get("/status", headers=auth(tokens["read"])).json()
    assert status["labels"]["Unit"] == 72
    rows = client.post("/query", headers=auth(tokens["read"]), json={
        "cypher": "MATCH (u:Unit) WHERE u.serial = $s RETURN u.uid AS uid", "params": {"s": "SN-0007"}})  # fmt: skip
    assert rows.json() == [{"uid": "unit:P-100/SN-0007"}]
    many = client.post(
        "/query",
        headers=auth(tokens["read"]),
        json={"cypher": "MATCH (u:Unit) RETURN u.uid AS uid"},
    )
    assert len(many.json()) == 5 and many.headers["X-Thread-Truncated"] == "true"


def test_tokens_and_scopes(client: TestClient, tokens: dict[str, Any]) -> None:
    assert client.get("/health").status_code == 200  # the only open endpoint
    for url in ("/status", "/trace/unit:P-100/SN-0001", "/metrics", "/twins"):
        response = client.get(url)
        assert response.status_code == 401 and response.json()["code"] == "unauthorized"
    assert client.get("/status", headers=auth("thr_nope_nope")).status_code == 401
    upload = {"file": ("parts.csv", (LIFECYCLE / "parts.csv").read_bytes())}
    refused = client.post(
        "/imports", headers=auth(tokens["read"]), data={"kind": "parts"}, files=upload
    )
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    assert client.get("/tokens", headers=auth(tokens["write"])).status_code == 403
    created = client.post(
        "/tokens", headers=auth(tokens["admin"]), json={"name": "short-lived", "scope": "read"}
    )
    assert created.status_code == 201
    secret = created.json()["token"]
    assert client.get("/status", headers=auth(secret)).status_code == 200
    assert client.delete("/tokens/short-lived", headers=auth(tokens["admin"])).status_code == 200
    assert client.get("/status", headers=auth(secret)).status_code == 401
    names = [t["name"] for t in client.get("/tokens", headers=auth(tokens["admin"])).json()]
    assert "short-lived" not in names and all(
        "token" not in t for t in client.get("/tokens", headers=auth(tokens["admin"])).json()
    )


@pytest.mark.cypher_unchecked  # wrapped in CALL { … } RETURN *, a write has nothing to return
def test_a_write_through_query_is_refused(client: TestClient, tokens: dict[str, Any]) -> None:
    response = client.post(
        "/query", headers=auth(tokens["admin"]), json={"cypher": "CREATE (n:Entity {uid: 'x:1'})"}
    )
    assert response.status_code == 403 and response.json()["code"] == "read_only"


def test_unknown_uid_is_404_with_suggestions(client: TestClient, tokens: dict[str, Any]) -> None:
    response = client.get("/trace/unit:P-100/SN-012", headers=auth(tokens["read"]))
    assert response.status_code == 404
    body = response.json()
    assert body["code"] == "not_found" and "unit:P-100/SN-0012" in body["details"]["closest"]


def test_a_slow_query_times_out_and_the_service_stays_healthy(
    client: TestClient, tokens: dict[str, Any]
) -> None:
    slow = "UNWIND range(1, 4000) AS a UNWIND range(1, 4000) AS b WITH a, b WHERE (a * b) % 7 = 0 RETURN count(*) AS c"
    response = client.post("/query", headers=auth(tokens["read"]), json={"cypher": slow})
    assert response.status_code == 504 and response.json()["code"] == "timeout"
    assert client.get("/health").json()["status"] == "ok"


def test_bad_parameters_are_422_without_a_trace(client: TestClient, tokens: dict[str, Any]) -> None:
    response = client.get("/path?source=unit:P-100/SN-0001", headers=auth(tokens["read"]))
    assert response.status_code == 422 and response.json()["code"] == "bad_parameters"
    assert "Traceback" not in response.text


def count_parts(spec: str) -> int:
    with open_store(spec) as store:
        return int(store.read("MATCH (p:Part) RETURN count(p) AS c")[0]["c"])


def test_an_upload_over_the_limit_is_413_and_writes_nothing(
    client: TestClient, tokens: dict[str, Any], fleet_spec: str
) -> None:
    before = count_parts(fleet_spec)
    big = "part_number,name\n" + "".join(f"BIG-{i},part {i}\n" for i in range(3000))
    response = client.post(
        "/imports",
        headers=auth(tokens["write"]),
        data={"kind": "parts"},
        files={"file": ("big.csv", big.encode())},
    )
    assert response.status_code == 413 and response.json()["code"] == "too_large"
    assert count_parts(fleet_spec) == before


def test_a_malformed_upload_is_400_with_the_row_and_writes_nothing(
    client: TestClient, tokens: dict[str, Any], fleet_spec: str
) -> None:
    before = count_parts(fleet_spec)
    bad = b"part_number,name,make_buy\nNEW-1,ok,make\nNEW-2,bad,steal\n"
    response = client.post(
        "/imports?wait=true",
        headers=auth(tokens["write"]),
        data={"kind": "parts"},
        files={"file": ("parts.csv", bad)},
    )
    assert response.status_code == 400
    problem = response.json()["details"]["problems"][0]
    assert (problem["source"], problem["line"], problem["column"]) == ("parts.csv", 3, "make_buy")
    assert count_parts(fleet_spec) == before


def test_an_import_job_reports_like_the_cli_and_records_who(
    client: TestClient, tokens: dict[str, Any], fleet_spec: str
) -> None:
    upload = {"file": ("extra-parts.csv", b"part_number,name\nJOB-1,one\nJOB-2,two\n")}
    started = client.post(
        "/imports", headers=auth(tokens["write"]), data={"kind": "parts"}, files=upload
    )
    assert (
        started.status_code == 202
        and started.headers["Location"] == f"/jobs/{started.json()['id']}"
    )
    job = finished_job(client, started.json()["id"], tokens["read"], tries=200)
    assert job["status"] == "succeeded", job["error"]
    report = job["result"][0]
    assert (report["source"], report["nodes"]["created"]) == ("extra-parts.csv", 2)
    runs = client.get("/imports", headers=auth(tokens["read"])).json()
    assert any(r["uid"] == report["run"] for r in runs)
    with open_store(fleet_spec) as store:
        actor = store.read(
            "MATCH (r:ImportRun {uid: $uid}) RETURN r.actor AS a", {"uid": report["run"]}
        )[0]["a"]
    assert actor == "write-client"


def test_two_concurrent_imports_both_land(
    client: TestClient, tokens: dict[str, Any], fleet_spec: str
) -> None:
    files = [
        ("a.csv", "".join(f"CA-{i},a\n" for i in range(300))),
        ("b.csv", "".join(f"CB-{i},b\n" for i in range(300))),
    ]
    jobs = [
        client.post("/imports", headers=auth(tokens["write"]), data={"kind": "parts"},
                    files={"file": (name, ("part_number,name\n" + rows).encode())}).json()["id"]
        for name, rows in files
    ]  # fmt: skip
    for job_id in jobs:
        job = finished_job(client, job_id, tokens["read"], tries=400)
        assert job["status"] == "succeeded", job["error"]
    with open_store(fleet_spec) as store:
        landed = store.read(
            "MATCH (p:Part) WHERE p.part_number STARTS WITH 'C' AND p.name IN ['a', 'b'] RETURN count(p) AS c"
        )
    assert landed == [{"c": 600}]


def test_metrics_count_requests(client: TestClient, tokens: dict[str, Any]) -> None:
    client.get("/twins", headers=auth(tokens["read"]))
    text = client.get("/metrics", headers=auth(tokens["read"])).text
    assert 'thread_http_requests_total{method="GET",route="/twins",status="200"}' in text
    assert "thread_store_query_seconds_count" in text


def test_a_real_server_answers_and_stops_gracefully(tmp_path: Path) -> None:
    """`thread serve` in its own process on a free port: token, trace, SIGTERM."""
    thread = str(Path(sys.executable).with_name("thread"))
    store = ["--store", f"embedded:{tmp_path / 'store'}"]
    assert runner.invoke(cli, [*store, "--quiet", "import", "auto", str(EXAMPLE)]).exit_code == 0
    secret = json.loads(
        runner.invoke(cli, [*store, "token", "create", "--name", "probe", "--json"]).stdout
    )["token"]
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    server = subprocess.Popen(
        [thread, *store, "serve", "--port", str(port)], stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for_health(port, tries=200)
        response = httpx.get(f"{base}/trace/unit:P-100/SN-0007", headers=auth(secret), timeout=10)
        assert response.status_code == 200 and response.json()["uid"] == "unit:P-100/SN-0007"
        # the CLI keeps working on the same folder while the server runs
        assert runner.invoke(cli, [*store, "status", "--json"]).exit_code == 0
    finally:
        server.send_signal(signal.SIGTERM)
        _, log = server.communicate(timeout=60)
    # uvicorn finishes in-flight requests and the lifespan, then re-raises the signal
    assert server.returncode in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in log
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert any(line["route"] == "/trace/{uid:path}" and line["token"] == "probe" for line in lines)
    assert secret not in log
    assert not EmbeddedServer(tmp_path / "store").status().running


def test_a_public_address_needs_tls_or_a_flag() -> None:
    result = runner.invoke(cli, ["serve", "--host", "0.0.0.0"])
    assert result.exit_code == 1 and "refusing to serve 0.0.0.0 without TLS" in result.stderr


def test_token_commands_show_the_secret_once(tmp_path: Path) -> None:
    store = ["--store", f"embedded:{tmp_path}"]
    created = runner.invoke(cli, [*store, "token", "create", "--name", "dash", "--scope", "read"])
    secret = created.stdout.strip()
    assert created.exit_code == 0 and secret.startswith("thr_")
    listed = runner.invoke(cli, [*store, "token", "list", "--json"])
    assert json.loads(listed.stdout)[0]["name"] == "dash" and secret not in listed.stdout
    assert secret not in (tmp_path / "tokens.json").read_text()
    assert oct((tmp_path / "tokens.json").stat().st_mode & 0o777) == "0o600"
    duplicate = runner.invoke(cli, [*store, "token", "create", "--name", "dash"])
    assert duplicate.exit_code == 1 and "exists" in duplicate.stderr
    assert runner.invoke(cli, [*store, "token", "revoke", "dash"]).exit_code == 0
    assert runner.invoke(cli, [*store, "token", "revoke", "dash"]).exit_code == 1


@pytest.mark.parametrize(
    ("url", "forms"),
    [
        ("/as-of/unit:P-100/SN-0012?date=yesterday", "a date YYYY-MM-DD or a UTC time"),
        ("/as-of/unit:P-100/SN-0012?date=2024-13-01", "a date YYYY-MM-DD or a UTC time"),
        ("/recall/supplier:SUP-NB?as_of=2024-13-01", "a date YYYY-MM-DD"),
        ("/recall/supplier:SUP-NB?as_of=2024-05-01garbage", "a date YYYY-MM-DD"),
    ],
)
def test_a_bad_date_is_422_with_the_accepted_forms(
    client: TestClient, tokens: dict[str, Any], url: str, forms: str
) -> None:
    response = client.get(url, headers=auth(tokens["read"]))
    assert response.status_code == 422
    body = response.json()
    assert set(body) == {"code", "message", "details"} and body["code"] == "bad_parameters"
    assert "is not " + forms in body["message"] and "Traceback" not in response.text
    good = client.get(url.split("=")[0] + "=2024-05-01", headers=auth(tokens["read"]))
    assert good.status_code == 200


def test_an_unknown_token_scope_is_a_usage_error(tmp_path: Path) -> None:
    store = ["--store", f"embedded:{tmp_path}"]
    result = runner.invoke(cli, [*store, "token", "create", "--name", "x", "--scope", "bogus"])
    assert result.exit_code == 2
    assert "unknown scope 'bogus'; choose read, write, admin" in result.stderr
    assert not (tmp_path / "tokens.json").exists()


def test_the_trace_says_a_units_health_and_why(client: TestClient, tokens: dict[str, Any]) -> None:
    """Issue 17, point 5: the API's health is the overlay's and the CLI's (one function)."""
    flagged = client.get("/trace/unit:P-100/SN-0010", headers=auth(tokens["read"]))
    assert flagged.status_code == 200
    assert flagged.json()["twin"]["health"] == {
        "level": "warning",
        "reasons": ["contains suspect lot lot:LOT-B-2302"],
    }
    clean = client.get("/trace/unit:P-100/SN-0001?sections=twin", headers=auth(tokens["read"]))
    assert clean.json()["twin"]["health"] == {"level": "good", "reasons": []}
