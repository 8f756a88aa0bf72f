"""CPU a generated service's request middleware adds per request: the access line and metrics.

Run by `uvx nox -s perf -- --overhead` with the rendered project's interpreter, in the
project's directory: `python perf_middleware.py <package> <LOG_LEVEL>`. It wraps an endpoint
that answers at once in the project's RequestLoggingMiddleware and, when the project has
the `prometheus` option, its MetricsMiddleware, logging JSON lines to /dev/null, and prints
the microseconds of CPU they add to each request. The minimum over many repeats is taken:
on a machine whose speed drifts, the least disturbed repeat is the truest.

wrk's requests per second drift by 10% or more between configurations on this machine; this
measures the same cost without the noise, and the `perf` session sets it against the CPU
the service spends on a whole request under load.
"""

import asyncio
import importlib
import os
import sys
import time
from typing import Any

CALLS = 5000
REPEATS = 15

Scope = dict[str, Any]


class Route:
    """What the router leaves in the scope for the metrics middleware to read."""

    path = "/items"


async def endpoint(scope: Scope, receive: Any, send: Any) -> None:
    scope["route"] = Route
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"{}"})


async def receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def send(message: dict[str, Any]) -> None:
    return None


def request() -> Scope:
    return {
        "type": "http",
        "method": "GET",
        "path": "/items",
        "headers": [(b"host", b"127.0.0.1"), (b"authorization", b"Bearer " + b"x" * 200)],
        "client": ("127.0.0.1", 50000),
    }


async def cpu_per_call(app: Any) -> float:
    best = float("inf")
    for _ in range(REPEATS):
        started = time.process_time()
        for _ in range(CALLS):
            await app(request(), receive, send)
        best = min(best, (time.process_time() - started) / CALLS)
    return best * 1e6


async def main(package: str, level: str) -> None:
    logs = importlib.import_module(f"{package}.logs")
    request_logging = importlib.import_module(f"{package}.request_logging")
    logs.configure_logging(level, "json")
    logs.HANDLER.setStream(open(os.devnull, "w"))  # noqa: SIM115, PTH123 - open for the run
    app: Any = endpoint
    try:
        metrics = importlib.import_module(f"{package}.metrics")
    except ModuleNotFoundError:
        pass
    else:
        from prometheus_client import CollectorRegistry

        app = metrics.MetricsMiddleware(app, metrics.RequestMetrics(CollectorRegistry()))
    app = request_logging.RequestLoggingMiddleware(app)
    bare = await cpu_per_call(endpoint)
    print(f"{await cpu_per_call(app) - bare:.1f}")


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:3]))
