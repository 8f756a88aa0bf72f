"""Throughput of each ORM's generated service as a ratio to a bare reference app.

`uvx nox -s perf` (or `-- sqlalchemy tortoise --seconds 5 --rounds 3`) renders each ORM's
variant with authentication, migrates a fresh database, creates a user with 20 items and
serves the service with one uvicorn worker pinned to core 0, next to the reference app of
tests/perf_reference.py on the same core. wrk, pinned to core 1, loads them alternately in
short bursts; medians over the rounds are printed with the ratio to the reference, which
is the figure of merit: this machine's speed drifts by up to 25% between runs, a ratio
measured side by side does not. Also printed: cold start, import time, runtime venv size,
RSS after the load and PostgreSQL round trips per request (counted by a proxy).
`--overhead` measures every configuration of OVERHEAD_CONFIGURATIONS (access lines and the
observability options) in one run and prints what each costs against the service without.

Only 127.0.0.1 is ever loaded, and every burst is bounded in time.
"""

import argparse
import asyncio
import json
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests import servers
from tests.projects import (
    REPO_ROOT,
    api_prefix,
    copy_working_tree,
    project_environment,
    render_project,
)
from tests.served import MIGRATE, free_port, libpq_url, scratch_database
from tests.variants import OBSERVABILITY, ORMS, PYTHON_VERSION, answer_set

PACKAGE = "my_service"
CONNECTIONS = 32
ITEMS = 20
ENDPOINTS = ("GET /items", "GET /items/{id}", "POST /items", "GET /users/me")
#: `--floors`: the apps of tests/perf_floors.py and tests/perf_floor_tortoise.py, which serve
#: this endpoint only, and the ORMs whose projects' environments can serve each.
FLOOR_ENDPOINT = "GET /users/me"
FLOORS = {
    "perf_floors:fastapi_asyncpg": ("sqlalchemy", "sqlmodel", "tortoise"),
    "perf_floors:fastapi_sqlalchemy": ("sqlalchemy", "sqlmodel"),
    "perf_floor_tortoise:fastapi_tortoise": ("tortoise",),
}
#: Not part of the reference comparison: the service's own PostgreSQL round trips.
ROUND_TRIP_REQUESTS = 50


@dataclass
class Burst:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int
    #: CPU time of the server process per request (user + system, from /proc).
    cpu_us: float = float("nan")


@dataclass
class OrmResult:
    orm: str
    bursts: dict[tuple[str, str], list[Burst]] = field(default_factory=dict)
    figures: dict[str, str] = field(default_factory=dict)
    round_trips: dict[str, float] = field(default_factory=dict)
    #: CPU per request of the access-line and metrics middleware (tests/perf_middleware.py).
    middleware_us: float = float("nan")


def run(args: Sequence[str], cwd: Path, env: Mapping[str, str]) -> str:
    result = subprocess.run(  # noqa: S603 - every argument is ours
        list(args), cwd=cwd, env=dict(env), capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        sys.exit(f"`{' '.join(args)}` failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def http(
    method: str, url: str, token: str | None = None, body: object = None, form: bool = False
) -> object:
    data, headers = None, {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if body is not None and form:
        data = urllib.parse.urlencode(body).encode()  # type: ignore[arg-type]
    elif body is not None:
        data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        raw = response.read()
    return json.loads(raw) if raw else None


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> float:
    """Seconds from now until GET url answers 200."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if process.poll() is not None:
            sys.exit(f"{url}: the server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310
                return time.perf_counter() - started
        except OSError:
            time.sleep(0.01)
    sys.exit(f"{url} did not answer within {timeout} s")


def pinned(core: int, command: Sequence[str]) -> list[str]:
    """The command, run on one CPU core only."""
    return [shutil.which("taskset") or "taskset", "-c", str(core), *command]


#: Both apps run on the server stack the generated projects install, named rather than left
#: to uvicorn's choice: were one of them missing, uvicorn would fall back to asyncio and h11,
#: which take 1.5-2 times the CPU per request, and the ratio would compare servers.
SERVER_STACK = ("--loop", "uvloop", "--http", "httptools")


@contextmanager
def serve(
    command: Sequence[str], cwd: Path, env: Mapping[str, str]
) -> Iterator[tuple[str, int, float]]:
    """Run one uvicorn worker (uvloop, httptools) pinned to core 0 until it is ready.

    Yields its base URL, its pid and the seconds it took from launch to ready.
    """
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 - every argument is ours
        pinned(0, [*command, *SERVER_STACK, "--port", str(port), "--log-level", "warning"]),
        cwd=cwd,
        env=dict(env),
        # wrk drops its connections at the end of a burst, which servers log as errors.
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        started_in = wait_ready(f"http://127.0.0.1:{port}/health/ready", process)
        yield f"http://127.0.0.1:{port}", process.pid, started_in
    finally:
        process.terminate()
        process.wait(timeout=30)


def cold_start(command: Sequence[str], cwd: Path, env: Mapping[str, str], runs: int = 5) -> float:
    """Median seconds from launch to the first 200 of /health/ready."""
    starts = []
    for _ in range(runs):
        with serve(command, cwd, env) as (_, _, started_in):
            starts.append(started_in)
    return statistics.median(starts)


def wrk_script(directory: Path, endpoint: str, token: str) -> Path:
    method = endpoint.split()[0]
    lines = [f'wrk.method = "{method}"', f'wrk.headers["Authorization"] = "Bearer {token}"']
    if method == "POST":
        lines += [
            'wrk.headers["Content-Type"] = "application/json"',
            'wrk.body = \'{"title": "A benchmark item", "description": "written by wrk"}\'',
        ]
    script = directory / f"{method.lower()}.lua"
    script.write_text("\n".join(lines) + "\n")
    return script


def load(url: str, script: Path, seconds: float, pid: int | None = None) -> Burst:
    """One wrk burst; with the server's pid, also its CPU time per request."""
    wrk = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds:g}s", "--latency", "-s", str(script), url]
    cpu_before = cpu_seconds(pid) if pid else 0.0
    output = subprocess.run(  # noqa: S603 - every argument is ours
        pinned(1, wrk), capture_output=True, text=True, check=True, timeout=seconds + 30
    ).stdout
    cpu = cpu_seconds(pid) - cpu_before if pid else float("nan")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", output))
    errors += sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output))
    cpu_us = cpu / max(requests, 1) * 1e6
    return Burst(rps, latency(output, "50%"), latency(output, "99%"), errors, cpu_us)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def latency(output: str, percentile: str) -> float:
    value, unit = re.search(rf"{percentile}\s+([\d.]+)(us|ms|s)", output).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


# --- PostgreSQL round trips, counted by a proxy between the service and the server -----


#: The codes of SSLRequest and GSSENCRequest.
ENCRYPTION_REQUESTS = {80877103, 80877104}


class RoundTripCounter:
    """A TCP proxy that counts the client's round trips: Sync and simple Query messages."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.round_trips = 0
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()
        self._started.wait(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._connection, "127.0.0.1", self.port)
        )
        self._started.set()
        self._loop.run_until_complete(server.serve_forever())

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        # The startup packets have no type byte: a length, then the body. Encryption
        # requests are refused here (the server never sees them), so the stream stays
        # readable; the client then sends its startup message in the clear.
        while True:
            length = int.from_bytes(await reader.readexactly(4))
            body = await reader.readexactly(length - 4)
            if int.from_bytes(body[:4]) in ENCRYPTION_REQUESTS:
                writer.write(b"N")
                await writer.drain()
                continue
            upstream_writer.write(length.to_bytes(4) + body)
            break
        directions = [
            asyncio.ensure_future(self._client_to_server(reader, upstream_writer)),
            asyncio.ensure_future(self._pipe(upstream_reader, writer)),
        ]
        # Either side closing ends the connection: close both, as a direct one would.
        await asyncio.wait(directions, return_when=asyncio.FIRST_COMPLETED)
        for direction in directions:
            direction.cancel()
        writer.close()
        upstream_writer.close()

    async def _client_to_server(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while True:
            kind = await reader.readexactly(1)
            length = await reader.readexactly(4)
            body = await reader.readexactly(int.from_bytes(length) - 4)
            if kind in (b"S", b"Q"):
                self.round_trips += 1
            writer.write(kind + length + body)
            await writer.drain()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()


def with_port(url: str, port: int) -> str:
    parts = urllib.parse.urlsplit(url)
    return parts._replace(netloc=f"{parts.username or 'postgres'}@127.0.0.1:{port}").geturl()


def count_round_trips(
    command: Sequence[str],
    cwd: Path,
    env: dict[str, str],
    database_url: str,
    token: str,
    item_id: str,
) -> dict[str, float]:
    parts = urllib.parse.urlsplit(database_url)
    proxy = RoundTripCounter(parts.hostname or "127.0.0.1", parts.port or 5432)
    proxied = {**env, "DATABASE_URL": with_port(database_url, proxy.port)}
    counts = {}
    with serve(command, cwd, proxied) as (base_url, _, _):
        for endpoint in ENDPOINTS:
            method, path = endpoint.split()
            url = base_url + api_prefix(cwd) + path.replace("{id}", item_id)
            body = {"title": "Counted"} if method == "POST" else None
            http(method, url, token, body)  # the first request may open the pool
            before = proxy.round_trips
            for _ in range(ROUND_TRIP_REQUESTS):
                http(method, url, token, body)
            counts[endpoint] = (proxy.round_trips - before) / ROUND_TRIP_REQUESTS
    return counts


# --- one ORM ----------------------------------------------------------------------------


#: What turns each observability option on in the served app, with nowhere to send to: the
#: exporters' cost is measured, not a backend's (port 9 refuses connections at once).
TELEMETRY_ENV = {
    "opentelemetry": {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"},
    "sentry": {"SENTRY_DSN": "http://public-key@127.0.0.1:9/1"},
}


#: `--overhead`: the service without any option and at WARNING (no access lines) first, the
#: yardstick; then access lines, metrics, both (the always-on logging and the likeliest
#: option), each other option alone, and everything.
OVERHEAD_CONFIGURATIONS: list[tuple[Sequence[str], str]] = [
    ((), "WARNING"),
    ((), "INFO"),
    (("prometheus",), "WARNING"),
    (("prometheus",), "INFO"),
    (("opentelemetry",), "WARNING"),
    (("sentry",), "WARNING"),
    (OBSERVABILITY, "INFO"),
]


def measure(
    orm: str,
    postgres_url: str,
    seconds: float,
    rounds: int,
    work: Path,
    observability: Sequence[str] = (),
    log_level: str = "WARNING",
    endpoints: Sequence[str] = ENDPOINTS,
    figures: bool = True,
    floors: bool = False,
    service_env: Mapping[str, str] | None = None,
) -> OrmResult:
    """Serve one configuration next to the reference and load both; `figures` adds the rest.

    The rest is cold start, import time, venv size, RSS and round trips: what the options
    overhead table does not need. `floors` also loads the floors of FLOOR_ENDPOINT that the
    project's environment can serve, in the same rounds.
    """
    result = OrmResult(configuration_name(orm, observability, log_level))
    if service_env:
        result.orm += " " + " ".join(f"{name}={value}" for name, value in service_env.items())
    template = work / "template"
    if not template.exists():
        copy_working_tree(template)
    answers = answer_set(orm, auth=True, observability=observability)
    project = render_project(template, work / result.orm.replace(" ", "-"), answers)
    env = project_environment()
    started = time.perf_counter()
    run(["uv", "sync", "--no-dev", "--python", PYTHON_VERSION], project, env)
    result.figures["uv sync --no-dev"] = f"{time.perf_counter() - started:.1f} s"
    size = sum(f.stat().st_size for f in (project / ".venv").rglob("*") if f.is_file())
    result.figures["runtime venv"] = f"{size / 1e6:.0f} MB"
    venv_python = str(project / ".venv" / "bin" / "python")
    imports = [
        float(run([venv_python, "-c", IMPORT_TIMER.format(package=PACKAGE)], project, env))
        for _ in range(5)
    ]
    result.figures["import time"] = f"{statistics.median(imports) * 1000:.0f} ms"
    middleware = [venv_python, str(REPO_ROOT / "tests" / "perf_middleware.py"), PACKAGE, log_level]
    result.middleware_us = float(run(middleware, project, env))
    result.figures["middleware CPU/request"] = f"{result.middleware_us:.1f} us"

    secret = secrets.token_urlsafe(32)
    with scratch_database(postgres_url, f"{PACKAGE}_perf_{secrets.token_hex(4)}") as database:
        database_url = libpq_url(database)
        env |= {
            "ENVIRONMENT": "production",
            "DATABASE_URL": database_url,
            "SECRET_KEY": secret,
            # uvicorn's own --log-level is overridden by LOG_LEVEL: at WARNING both apps skip
            # access lines; --log-level INFO measures the service with its access line.
            "LOG_LEVEL": log_level,
            "LOGIN_RATE_LIMIT": "1000/minute",
            "LOGIN_ADDRESS_RATE_LIMIT": "1000/minute",
        }
        for option in observability:
            env |= TELEMETRY_ENV.get(option, {})
        env |= service_env or {}
        run([venv_python, "-m", *MIGRATE[orm]], project, env)
        admin_password = secrets.token_urlsafe(16)
        run(
            [
                str(project / ".venv" / "bin" / "my-service"),
                "create-superuser",
                "--email",
                "perf-admin@example.com",
                # One argument: a random password may start with "-".
                f"--password={admin_password}",
            ],
            project,
            env,
        )
        app = [
            str(project / ".venv" / "bin" / "uvicorn"),
            "--factory",
            f"{PACKAGE}.main:create_app",
        ]
        reference = [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "tests.perf_reference:create_app",
        ]
        reference_env = {**env, "PYTHONPATH": str(REPO_ROOT)}
        with serve(app, project, env) as (base_url, app_pid, _):
            # The service's API routes sit under its prefix; the reference app's at the root.
            api_url = base_url + api_prefix(project)
            token = sign_in(api_url, "perf-admin@example.com", admin_password)
            password = secrets.token_urlsafe(16)
            http(
                "POST",
                f"{api_url}/users",
                token,
                {"email": "bench@example.com", "password": password},
            )
            token = sign_in(api_url, "bench@example.com", password)
            item_ids = [
                str(http("POST", f"{api_url}/items", token, {"title": f"Item {n}"})["id"])  # type: ignore[index]
                for n in range(ITEMS)
            ]
            with ExitStack() as servers_up:
                reference_url, reference_pid, _ = servers_up.enter_context(
                    serve(reference, REPO_ROOT, reference_env)
                )
                targets = {
                    "service": (api_url, app_pid),
                    "reference": (reference_url, reference_pid),
                }
                for floor, orms in FLOORS.items() if floors else ():
                    if orm in orms:
                        command = [
                            venv_python,
                            "-m",
                            "uvicorn",
                            "--factory",
                            f"tests.{floor}",
                        ]
                        floor_url, floor_pid, _ = servers_up.enter_context(
                            serve(command, REPO_ROOT, reference_env)
                        )
                        targets[floor_name(floor)] = (floor_url, floor_pid)

                def serving(endpoint: str) -> list[tuple[str, str, int]]:
                    """The targets that serve the endpoint: the floors serve one only."""
                    return [
                        (target, url, pid)
                        for target, (url, pid) in targets.items()
                        if target in ("service", "reference") or endpoint == FLOOR_ENDPOINT
                    ]

                for endpoint in endpoints:
                    script = wrk_script(work, endpoint, token)
                    path = endpoint.split()[1].replace("{id}", item_ids[0])
                    for _, url, _ in serving(endpoint):  # warm them up
                        load(url + path, script, 1)
                for _ in range(rounds):
                    for endpoint in endpoints:
                        script = wrk_script(work, endpoint, token)
                        path = endpoint.split()[1].replace("{id}", item_ids[0])
                        for target, url, pid in serving(endpoint):
                            burst = load(url + path, script, seconds, pid)
                            result.bursts.setdefault((endpoint, target), []).append(burst)
                            keep_only(database_url, item_ids)
            result.figures["RSS after load"] = f"{rss_mb(app_pid):.0f} MB"
        if not figures:
            return result
        result.figures["cold start (median of 5)"] = f"{cold_start(app, project, env):.2f} s"
        result.figures["reference cold start"] = (
            f"{cold_start(reference, REPO_ROOT, reference_env):.2f} s"
        )
        result.round_trips = count_round_trips(app, project, env, database_url, token, item_ids[0])
        keep_only(database_url, item_ids)
    return result


def configuration_name(orm: str, observability: Sequence[str], log_level: str) -> str:
    """Such as `sqlalchemy`, or `sqlalchemy+prometheus INFO` with options and access lines."""
    return "+".join([orm, *observability]) + ("" if log_level == "WARNING" else f" {log_level}")


IMPORT_TIMER = (
    "import time; started = time.perf_counter(); import {package}.main; "
    "print(time.perf_counter() - started)"
)


def sign_in(api_url: str, email: str, password: str) -> str:
    body = {"username": email, "password": password}
    return str(http("POST", f"{api_url}/auth/token", body=body, form=True)["access_token"])  # type: ignore[index]


def keep_only(database_url: str, item_ids: list[str]) -> None:
    """Delete the items the POST bursts wrote, so every list burst lists the same 20 items."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute("DELETE FROM items WHERE NOT (id = ANY(%s::uuid[]))", (item_ids,))


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024  # type: ignore[union-attr]


# --- the report -------------------------------------------------------------------------


def median(bursts: list[Burst], attribute: str) -> float:
    return statistics.median(getattr(burst, attribute) for burst in bursts)


def report(results: list[OrmResult], seconds: float, rounds: int) -> None:
    print(
        f"\nLoad: wrk -t1 -c{CONNECTIONS}, {seconds:g} s bursts, service and reference"
        f" alternately, {rounds} rounds (medians); one uvicorn worker each (uvloop, httptools)"
        f" on core 0, wrk on core 1; {ITEMS} items listed; {os.cpu_count()} cores, load average"
        f" {os.getloadavg()[0]:.2f} at the end.\n"
    )
    header = [
        "orm",
        "endpoint",
        "req/s",
        "ref req/s",
        "ratio",
        "p50 ms",
        "p99 ms",
        "ref p99 ms",
        "CPU us/req",
        "ref CPU us/req",
        "errors",
        "PG round trips",
    ]
    rows = []
    for result in results:
        for endpoint in measured_endpoints(result):
            mine, ref = result.bursts[endpoint, "service"], result.bursts[endpoint, "reference"]
            rows.append(
                [
                    result.orm,
                    endpoint,
                    f"{median(mine, 'requests_per_second'):.0f}",
                    f"{median(ref, 'requests_per_second'):.0f}",
                    f"{ratio(result, endpoint):.2f}",
                    f"{median(mine, 'p50_ms'):.1f}",
                    f"{median(mine, 'p99_ms'):.1f}",
                    f"{median(ref, 'p99_ms'):.1f}",
                    f"{median(mine, 'cpu_us'):.0f}",
                    f"{median(ref, 'cpu_us'):.0f}",
                    str(sum(b.errors for b in mine) + sum(b.errors for b in ref)),
                    f"{result.round_trips.get(endpoint, float('nan')):.1f}",
                ]
            )
    table(header, rows)
    report_floors(results)
    print()
    names = list(dict.fromkeys(name for result in results for name in result.figures))
    table(["orm", *names], [[r.orm, *(r.figures.get(n, "-") for n in names)] for r in results])


def floor_name(floor: str) -> str:
    """A floor's factory, such as `fastapi_asyncpg` for `perf_floors:fastapi_asyncpg`."""
    return floor.partition(":")[2]


def report_floors(results: list[OrmResult]) -> None:
    """The floors' ratios to the reference (`--floors`), beside the service's own."""
    rows = []
    for result in results:
        for target in ("service", *map(floor_name, FLOORS)):
            bursts = result.bursts.get((FLOOR_ENDPOINT, target))
            if bursts is None:
                continue
            reference = result.bursts[FLOOR_ENDPOINT, "reference"]
            rps = median(bursts, "requests_per_second")
            rows.append(
                [
                    result.orm,
                    target,
                    f"{rps:.0f}",
                    f"{rps / median(reference, 'requests_per_second'):.2f}",
                    f"{median(bursts, 'p99_ms'):.1f}",
                    f"{median(bursts, 'cpu_us'):.0f}",
                    f"{median(reference, 'cpu_us'):.0f}",
                ]
            )
    if not any(row[1] != "service" for row in rows):
        return
    print(f"\nFloors of {FLOOR_ENDPOINT} (tests/perf_floor*.py), loaded in the same rounds:\n")
    header = ["orm", "app", "req/s", "ratio", "p99 ms", "CPU us/req", "ref CPU us/req"]
    table(header, rows)


def measured_endpoints(result: OrmResult) -> list[str]:
    return [endpoint for endpoint in ENDPOINTS if (endpoint, "service") in result.bursts]


def ratio(result: OrmResult, endpoint: str) -> float:
    mine, ref = result.bursts[endpoint, "service"], result.bursts[endpoint, "reference"]
    return median(mine, "requests_per_second") / median(ref, "requests_per_second")


def report_overhead(results: list[OrmResult], baseline: OrmResult) -> None:
    """Each configuration's ratio as a share of the baseline's: what its options cost.

    Also the CPU the access-line and metrics middleware add per request, measured apart
    (tests/perf_middleware.py), as a share of the baseline's CPU per request under load.
    """
    endpoints = measured_endpoints(baseline)
    print(
        f"\nCost of each configuration against {baseline.orm}: ratio to the reference"
        " (1 - ratio / baseline ratio), and the CPU its request middleware adds per request"
        " (as a share of the baseline's CPU per request under load):\n"
    )
    baseline_ratios = {endpoint: ratio(baseline, endpoint) for endpoint in endpoints}
    baseline_cpu = {e: median(baseline.bursts[e, "service"], "cpu_us") for e in endpoints}
    rows = []
    for result in results:
        row = [result.orm]
        for endpoint in endpoints:
            mine, cpu = ratio(result, endpoint), baseline_cpu[endpoint]
            row += [
                f"{mine:.2f} ({1 - mine / baseline_ratios[endpoint]:+.0%})",
                f"{result.middleware_us:.1f} us ({result.middleware_us / cpu:.1%} of {cpu:.0f})",
            ]
        rows.append(row)
    header = ["configuration"]
    for endpoint in endpoints:
        header += [f"{endpoint} ratio (cost)", f"{endpoint} middleware CPU"]
    table(header, rows)


def table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("orms", nargs="*", help=f"ORMs to measure (default: {' '.join(ORMS)})")
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--observability",
        nargs="*",
        default=[],
        choices=OBSERVABILITY,
        help="render with these options, each turned on (compare with a run without)",
    )
    parser.add_argument(
        "--log-level",
        default="WARNING",
        choices=["DEBUG", "INFO", "WARNING"],
        help="LOG_LEVEL of both apps; INFO writes the service's access line per request",
    )
    parser.add_argument(
        "--endpoints",
        nargs="+",
        default=list(ENDPOINTS),
        choices=ENDPOINTS,
        metavar="ENDPOINT",
        help=f"the endpoints to load (default: all of {', '.join(repr(e) for e in ENDPOINTS)})",
    )
    parser.add_argument(
        "--overhead",
        action="store_true",
        help="measure each ORM with every configuration of OVERHEAD_CONFIGURATIONS in turn"
        " and print what each costs against the first (no option, no access lines)",
    )
    parser.add_argument(
        "--floors",
        action="store_true",
        help=f"also load the floors of {FLOOR_ENDPOINT} (tests/perf_floor*.py): FastAPI with"
        " asyncpg, and with the ORM's own user lookup (a SQLAlchemy session or Tortoise)",
    )
    parser.add_argument(
        "--service-env",
        nargs="+",
        default=[],
        metavar="NAME=VALUE",
        help="settings of the service (not the reference), such as DATABASE_POOL_SIZE=32",
    )
    args = parser.parse_args(argv)
    malformed = [pair for pair in args.service_env if "=" not in pair]
    if malformed:
        parser.error(f"--service-env takes NAME=VALUE pairs, not {' '.join(malformed)}")
    args.service_env = dict(pair.split("=", 1) for pair in args.service_env)
    unknown = set(args.orms) - set(ORMS)
    if unknown:
        parser.error(f"unknown ORM {', '.join(sorted(unknown))}; choose from {', '.join(ORMS)}")
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: `apt-get install wrk` (the nox session does it as root)")
    configurations = (
        OVERHEAD_CONFIGURATIONS if args.overhead else [(args.observability, args.log_level)]
    )
    with servers.provide(servers.POSTGRES) as postgres_url, tempfile.TemporaryDirectory() as work:
        results = {
            orm: [
                measure(
                    orm,
                    postgres_url,
                    args.seconds,
                    args.rounds,
                    Path(work),
                    observability,
                    log_level,
                    args.endpoints,
                    figures=not args.overhead,
                    floors=args.floors,
                    service_env=args.service_env,
                )
                for observability, log_level in configurations
            ]
            for orm in args.orms or ORMS
        }
    report([result for orm in results.values() for result in orm], args.seconds, args.rounds)
    if args.overhead:
        for orm_results in results.values():
            report_overhead(orm_results, orm_results[0])


if __name__ == "__main__":
    main()
