"""gunicorn as in production, and clients on loopback: what the HTTP scenarios share.

Event ingestion and webhook ingestion both serve the app with gunicorn on a
free loopback port and drive it from several threads, each with its own
keep-alive connection. Bodies are built before the clock starts, so the
client's threads only write bytes and wait and do not compete for the CPU
being measured.
"""

import http.client
import math
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from bench import memory

ROOT = Path(__file__).resolve().parent.parent

#: Longest we wait for gunicorn to answer its first request.
SERVER_START_TIMEOUT = 60.0
#: One request taking longer than this is a hung server, not a slow one.
REQUEST_TIMEOUT = 120.0


@dataclass(frozen=True)
class Server:
    process: subprocess.Popen
    port: int

    def worker_peaks_mb(self) -> list[float | None]:
        """Peak memory of each gunicorn worker (not the master, which only forks)."""
        return [memory.peak_rss_mb(pid) for pid in memory.children(self.process.pid)]


def gunicorn_start(
    *,
    app: str,
    env: dict[str, str],
    workers: int,
    worker_class: str,
    threads: int,
    log: IO[bytes],
    broker: str = "",
) -> Server:
    """gunicorn serving ``app`` (a WSGI path such as ``config.wsgi``) on a free port.

    No Celery broker unless ``broker`` is given, whatever the shell has:
    kicked tasks run in-process, so the work they do is measured on these same
    cores instead of piling up in a queue nobody drains during the run. A
    caller that gives one runs the workers that drain it.
    """
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "LADDER_ENV": "development",
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
        **env,
    }
    environment.pop("CELERY_BROKER_URL", None)
    if broker:
        environment["CELERY_BROKER_URL"] = broker
    command = [
        sys.executable, "-m", "gunicorn", app,
        "--bind", f"127.0.0.1:{port}",
        "--workers", str(workers),
        "--worker-class", worker_class,
        "--log-level", "warning",
    ]  # fmt: skip
    if worker_class == "gthread":
        # Passed only here: gunicorn turns a sync worker with threads into gthread.
        command += ["--threads", str(threads)]
    # The log is a file, not a pipe: nobody reads it while gunicorn runs, and a
    # full pipe would block its workers.
    process = subprocess.Popen(
        command, cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT
    )
    return Server(process=process, port=port)


def server_wait(*, server: Server, log: "TempLog", path: str) -> None:
    """Return once gunicorn answers a GET of ``path`` (any status); fail if it exits first."""
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.process.returncode}:\n{log.tail()}")
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        try:
            conn.request("GET", path)
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.1)
        finally:
            conn.close()
    raise RuntimeError(f"gunicorn did not answer within {SERVER_START_TIMEOUT:.0f}s")


def server_stop(server: subprocess.Popen) -> None:
    """Stop gunicorn and its workers: gracefully, then for good."""
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


class TempLog:
    """A server's output, kept to be shown when something fails."""

    def __enter__(self) -> "TempLog":
        self.file = tempfile.TemporaryFile()
        return self

    def __exit__(self, *exc: object) -> None:
        self.file.close()

    def tail(self, size: int = 4000) -> str:
        self.file.flush()
        self.file.seek(max(0, self.file.tell() - size))
        return self.file.read().decode(errors="replace")


@dataclass(frozen=True)
class Sent:
    #: What the answers accepted (events, for both scenarios).
    accepted: int
    requests: int
    seconds: float
    #: Seconds per request, request written to answer read.
    latencies: list[float]
    #: False when the time limit stopped the clients before every body went out.
    complete: bool


#: Judges one answer: (status, body) -> how many items it accepted, or raises
#: ``Refused`` with what was wrong.
Judge = Callable[[int, bytes], int]


class Refused(Exception):
    pass


class Clients:
    """POST bodies to one path from ``clients`` threads, each with its own
    keep-alive connection; client ``i`` sends bodies ``i``, ``i + clients`` …,
    so neighbouring bodies go out at about the same time."""

    def __init__(self, *, port: int, path: str, headers: dict[str, str], clients: int) -> None:
        self.port = port
        self.path = path
        self.headers = headers
        self.clients = clients

    def post(
        self, conn: http.client.HTTPConnection, body: bytes, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        conn.request("POST", self.path, body, self.headers if headers is None else headers)
        response = conn.getresponse()
        return response.status, response.read()

    def post_once(self, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        """One request on a connection of its own (the checks after a run)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT)
        try:
            return self.post(conn, body, headers)
        finally:
            conn.close()

    def __call__(self, bodies: list[bytes], *, judge: Judge, time_limit: float) -> Sent:
        deadline = time.monotonic() + time_limit
        latencies: list[list[float]] = [[] for _ in range(self.clients)]
        accepted = [0] * self.clients
        errors: list[str] = []

        def client(index: int) -> None:
            # http.client reconnects by itself when a sync worker closes the connection.
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT)
            try:
                for body in bodies[index :: self.clients]:
                    if errors or time.monotonic() > deadline:
                        return
                    started = time.perf_counter()
                    status, answer = self.post(conn, body)
                    latencies[index].append(time.perf_counter() - started)
                    accepted[index] += judge(status, answer)
            except Refused as exc:
                errors.append(str(exc))
            except (OSError, http.client.HTTPException) as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
            finally:
                conn.close()

        threads = [threading.Thread(target=client, args=(i,)) for i in range(self.clients)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - started
        if errors:
            raise RuntimeError(f"{len(errors)} client(s) failed; first: {errors[0]}")
        done = [lat for per_client in latencies for lat in per_client]
        return Sent(
            accepted=sum(accepted),
            requests=len(done),
            seconds=seconds,
            latencies=done,
            complete=len(done) == len(bodies),
        )


def percentile(ordered: list[float], pct: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    return ordered[max(1, math.ceil(pct / 100 * len(ordered))) - 1]


def latency_ms(sent: list[Sent]) -> dict[str, float]:
    """p50, p99 and max of every request of ``sent``, in milliseconds."""
    ordered = sorted(1000 * s for one in sent for s in one.latencies)
    return {
        "p50": round(percentile(ordered, 50), 1),
        "p99": round(percentile(ordered, 99), 1),
        "max": round(ordered[-1], 1),
    }
