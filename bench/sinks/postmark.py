"""A fake Postmark API: ``POST /email`` and ``POST /email/batch``, fast and local.

It answers as Postmark does (https://postmarkapp.com/developer/api/email-api):
one result per message with ErrorCode 0, Message "OK", a uuid MessageID,
SubmittedAt and To; a batch gets a JSON array of them in the order sent, with
HTTP 200 even when some messages were refused, while a refused single message
gets HTTP 422 with its ErrorCode. A missing or wrong
``X-Postmark-Server-Token`` gets 401.

Failures to test against:

* a recipient address containing ``invalid`` (in any case) gets ErrorCode 300
  ("Invalid 'To' address: '…'."), one containing ``inactive`` gets ErrorCode
  406 ("… Found inactive addresses: …. Inactive recipients are …"), worded
  as Postmark words them, which is what anymail's parser reads;
* ``fail(status, times=n, after=m)`` lets m send calls through, then makes
  the n after them answer ``status`` (429 comes with ``Retry-After: 1``
  unless told otherwise); ``delay`` holds the answer back, for timeouts;
* more than 500 messages in one batch get 422 (the sink's wording: Postmark
  documents the limit, not the answer).

It records what it received: every parsed message, or with ``keep=False``
(benchmarks) only the count and the MessageIDs it handed out; every call's
path, size and status; and how many TCP connections it accepted, so a test
can see a client reuse one.

Run it in a thread of the test process::

    with PostmarkSink() as sink:
        settings.ANYMAIL = {"POSTMARK_SERVER_TOKEN": sink.token, "POSTMARK_API_URL": sink.url}
        ...
        sink.messages()

or as a process of its own, so it does not share the GIL with the code under
test, and drive it over HTTP (``SinkClient``, or ``spawn()`` to start one)::

    python -m bench.sinks.postmark --port 8025 [--token T] [--keep-nothing]

    GET  /_sink/messages   {"count", "accepted", "messages", "message_ids", "calls", "connections"}
    POST /_sink/reset      forget everything received
    POST /_sink/fail       {"status": 429, "times": 1, "after": 0, "retry_after": 1, "delay": 0}

``python -m bench.sinks.postmark --bench`` measures the sink and Ladder's
batch backend against it (docs/backends.md has the figures).
"""

import argparse
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import getaddresses
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

#: The token the sink accepts unless told another.
DEFAULT_TOKEN = "postmark-sink-token"

#: Postmark's limit on messages per /email/batch call.
BATCH_LIMIT = 500

#: The address fields Postmark sends to.
RECIPIENT_FIELDS = ("To", "Cc", "Bcc")

#: Postmark's ErrorCode for a bad or missing server token (with HTTP 401).
BAD_TOKEN = 10
#: Postmark's ErrorCode for a body that is not JSON (with HTTP 422).
INVALID_JSON = 402
#: Postmark's ErrorCode for an invalid email request (bad address, no recipient).
INVALID_EMAIL = 300
#: Postmark's ErrorCode for a recipient it has marked inactive (suppressed).
INACTIVE_RECIPIENT = 406

#: Postmark's wording for an inactive recipient; anymail finds the addresses
#: between "inactive addresses:" and ". Inactive recipients".
INACTIVE_MESSAGE = (
    "You tried to send to recipient(s) that have been marked as inactive. "
    "Found inactive addresses: {addresses}. Inactive recipients are ones that have "
    "generated a hard bounce, a spam complaint, or a manual suppression."
)


@dataclass(frozen=True, slots=True)
class Failure:
    """One armed failure: the next send call answers ``status`` after ``delay`` s."""

    status: int
    retry_after: int | None = None
    delay: float = 0.0


#: A send call let through untouched (what ``after`` queues before a failure).
PASS = Failure(200)


class SinkState:
    """What the sink received and what it is armed to do; shared by handler threads."""

    def __init__(self, *, token: str, keep: bool) -> None:
        self.token = token
        self.keep = keep
        self.lock = threading.Lock()
        self.failures: deque[Failure] = deque()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.messages: list[dict] = []
            self.message_ids: list[str] = []
            self.count = 0
            self.calls: list[dict] = []
            self.connections = 0
            self.failures.clear()

    def arm(self, failure: Failure, *, times: int, after: int) -> None:
        with self.lock:
            self.failures.extend([PASS] * after + [failure] * times)

    def next_failure(self) -> Failure | None:
        with self.lock:
            return self.failures.popleft() if self.failures else None

    def record(self, path: str, messages: list, ids: list[str], status: int) -> None:
        with self.lock:
            self.count += len(messages)
            if self.keep:
                self.messages.extend(messages)
            self.message_ids.extend(ids)
            self.calls.append({"path": path, "messages": len(messages), "status": status})

    def record_call(self, path: str, status: int) -> None:
        with self.lock:
            self.calls.append({"path": path, "messages": 0, "status": status})

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "count": self.count,
                "accepted": len(self.message_ids),
                "messages": list(self.messages),
                "message_ids": list(self.message_ids),
                "calls": list(self.calls),
                "connections": self.connections,
            }


def message_result(message: object, submitted_at: str) -> dict[str, Any]:
    """Postmark's answer for one message."""
    if not isinstance(message, dict):
        return {"ErrorCode": INVALID_EMAIL, "Message": "Invalid message: not a JSON object."}
    fields = {name: message.get(name) for name in RECIPIENT_FIELDS}
    if not any(isinstance(value, str) and value.strip() for value in fields.values()):
        return {"ErrorCode": INVALID_EMAIL, "Message": "Zero recipients specified"}
    joined = " ".join(value for value in fields.values() if isinstance(value, str)).lower()
    if "invalid" in joined:
        for name, value in fields.items():
            for address in _addresses(value):
                if "invalid" in address.lower():
                    return {
                        "ErrorCode": INVALID_EMAIL,
                        "Message": f"Invalid '{name}' address: '{address}'.",
                    }
    if "inactive" in joined:
        inactive = [
            address.lower()
            for value in fields.values()
            for address in _addresses(value)
            if "inactive" in address.lower()
        ]
        if inactive:
            return {
                "ErrorCode": INACTIVE_RECIPIENT,
                "Message": INACTIVE_MESSAGE.format(addresses=", ".join(inactive)),
            }
    return {
        "ErrorCode": 0,
        "Message": "OK",
        "MessageID": str(uuid.uuid4()),
        "SubmittedAt": submitted_at,
        "To": fields["To"] or "",
    }


def _addresses(value: object) -> list[str]:
    if not isinstance(value, str):
        return []
    return [address for _, address in getaddresses([value]) if address]


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1: connections stay open between requests (every answer has a
    # Content-Length), as they do with Postmark and a requests.Session.
    protocol_version = "HTTP/1.1"
    server: "_Server"

    def setup(self) -> None:
        super().setup()
        # The status line and headers go out in one send() and the body in
        # another; with Nagle's algorithm on, the body would wait for the
        # client's delayed ACK of the headers: 40 ms per call on Linux.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.state.lock:
            self.server.state.connections += 1

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per request on stderr would cost more than the request

    def _path(self) -> str:
        # A client sending through a proxy names the whole URL (RFC 9112
        # §3.2.2): the sink answers as the API host and the proxy both.
        return urlsplit(self.path).path

    def do_GET(self) -> None:
        if self._path() == "/_sink/messages":
            self._answer(200, self.server.state.snapshot())
        else:
            self._answer(404, {"ErrorCode": 404, "Message": "Not found (Postmark sink)"})

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = self._path()
        state = self.server.state
        if path == "/_sink/reset":
            state.reset()
            self._answer(200, {})
        elif path == "/_sink/fail":
            spec = orjson.loads(body or b"{}")
            status = int(spec.get("status", 500))
            retry_after = spec.get("retry_after", 1 if status == 429 else None)
            failure = Failure(status, retry_after, float(spec.get("delay", 0)))
            state.arm(failure, times=int(spec.get("times", 1)), after=int(spec.get("after", 0)))
            self._answer(200, {})
        elif path in ("/email", "/email/batch"):
            self._send(path, body, state)
        else:
            self._answer(404, {"ErrorCode": 404, "Message": "Not found (Postmark sink)"})

    def _send(self, path: str, body: bytes, state: SinkState) -> None:
        failure = state.next_failure()
        if failure is not None:
            if failure.delay:
                time.sleep(failure.delay)
            if failure.status != 200:
                state.record_call(path, failure.status)
                headers = {}
                if failure.retry_after is not None:
                    headers["Retry-After"] = str(failure.retry_after)
                message = f"Failure injected by the Postmark sink ({failure.status})"
                self._answer(failure.status, {"Message": message}, headers)
                return
        token = self.headers.get("X-Postmark-Server-Token") or ""
        if token.lower() != state.token.lower():
            state.record_call(path, 401)
            message = "Request does not contain a valid Server token."
            self._answer(401, {"ErrorCode": BAD_TOKEN, "Message": message})
            return
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            state.record_call(path, 422)
            self._answer(
                422, {"ErrorCode": INVALID_JSON, "Message": "Received invalid JSON input."}
            )
            return
        submitted_at = datetime.now(UTC).isoformat()
        if path == "/email/batch":
            if not isinstance(parsed, list) or len(parsed) > BATCH_LIMIT:
                state.record_call(path, 422)
                message = f"A batch is a JSON array of at most {BATCH_LIMIT} messages."
                self._answer(422, {"ErrorCode": INVALID_EMAIL, "Message": message})
                return
            results = [message_result(message, submitted_at) for message in parsed]
            ids = [result["MessageID"] for result in results if result["ErrorCode"] == 0]
            state.record(path, parsed, ids, 200)
            self._answer(200, results)
            return
        result = message_result(parsed, submitted_at)
        if result["ErrorCode"] == 0:
            state.record(path, [parsed], [result["MessageID"]], 200)
            self._answer(200, result)
        else:
            state.record(path, [parsed], [], 422)
            self._answer(422, result)

    def _answer(self, status: int, payload: object, headers: dict | None = None) -> None:
        data = orjson.dumps(payload)
        self.send_response_only(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], state: SinkState) -> None:
        self.state = state
        super().__init__(address, _Handler)


class PostmarkSink:
    """The fake Postmark API in a thread: ``with PostmarkSink() as sink: sink.url``."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str = DEFAULT_TOKEN,
        keep: bool = True,
    ) -> None:
        self.state = SinkState(token=token, keep=keep)
        self.server = _Server((host, port), self.state)
        self.host, self.port = self.server.server_address[:2]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The API root, as ANYMAIL["POSTMARK_API_URL"] wants it."""
        return f"http://{self.host}:{self.port}/"

    @property
    def token(self) -> str:
        return self.state.token

    def start(self) -> "PostmarkSink":
        self._thread = threading.Thread(
            # stop() waits up to one poll interval: 0.5 s by default, per test.
            target=self.server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="postmark-sink",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> "PostmarkSink":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # The same operations as the HTTP control endpoints, without the HTTP.

    def messages(self) -> list[dict]:
        return self.state.snapshot()["messages"]

    def snapshot(self) -> dict[str, Any]:
        return self.state.snapshot()

    def reset(self) -> None:
        self.state.reset()

    def fail(
        self,
        status: int,
        *,
        times: int = 1,
        after: int = 0,
        retry_after: int | None = None,
        delay: float = 0,
    ) -> None:
        """The ``times`` send calls after the next ``after`` answer ``status``.

        429 comes with ``Retry-After: 1`` unless ``retry_after`` says otherwise;
        ``delay`` holds each answer back that many seconds (status 200 with a
        delay answers normally, late: a timeout to test against).
        """
        if retry_after is None and status == 429:
            retry_after = 1
        self.state.arm(Failure(status, retry_after, delay), times=times, after=after)


class SinkClient:
    """Drives a sink in another process through its control endpoints."""

    def __init__(self, url: str) -> None:
        self.url = url if url.endswith("/") else url + "/"

    def _call(self, method: str, path: str, payload: dict | None = None) -> Any:
        data = None if payload is None else orjson.dumps(payload)
        request = urllib.request.Request(self.url + path, data=data, method=method)
        with urllib.request.urlopen(request, timeout=30) as response:
            return orjson.loads(response.read())

    def snapshot(self) -> dict[str, Any]:
        return self._call("GET", "_sink/messages")

    def messages(self) -> list[dict]:
        return self.snapshot()["messages"]

    def reset(self) -> None:
        self._call("POST", "_sink/reset", {})

    def fail(
        self,
        status: int,
        *,
        times: int = 1,
        after: int = 0,
        retry_after: int | None = None,
        delay: float = 0,
    ) -> None:
        """As ``PostmarkSink.fail``."""
        spec: dict[str, Any] = {"status": status, "times": times, "after": after, "delay": delay}
        if retry_after is not None:
            spec["retry_after"] = retry_after
        self._call("POST", "_sink/fail", spec)


@contextmanager
def spawn(*, token: str = DEFAULT_TOKEN, keep: bool = True) -> Iterator[tuple[SinkClient, int]]:
    """A sink in a process of its own on a free port: yields (client, pid)."""
    command = [sys.executable, "-m", "bench.sinks.postmark", "--port", "0", "--token", token]
    if not keep:
        command.append("--keep-nothing")
    process = subprocess.Popen(
        command, cwd=Path(__file__).resolve().parents[2], stdout=subprocess.PIPE, text=True
    )
    try:
        line = process.stdout.readline()  # "Postmark sink listening on http://…/"
        if not line:
            raise RuntimeError("the Postmark sink process exited before listening")
        yield SinkClient(line.split()[-1]), process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()


def serve(*, host: str, port: int, token: str, keep: bool) -> None:
    sink = PostmarkSink(host=host, port=port, token=token, keep=keep)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=sink.server.shutdown).start())
    print(f"Postmark sink listening on {sink.url}", flush=True)
    try:
        sink.server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        sink.server.server_close()


# --- Benchmark ---------------------------------------------------------------


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _bench_messages(first: int, count: int, html_bytes: int) -> list:
    """Messages shaped like Ladder's: HTML and text parts, List-Unsubscribe, a tag, metadata."""
    from django.core.mail import EmailMultiAlternatives

    paragraph = (
        '<p style="margin:0 0 16px;font-family:Arial">Hello {name}, here is what\'s new.</p>'
    )
    repeat = max(1, html_bytes // len(paragraph))
    messages = []
    for n in range(first, first + count):
        html = f"<html><body>{paragraph.format(name=n) * repeat}</body></html>"
        message = EmailMultiAlternatives(
            subject=f"What's new this week, customer {n}",
            body=f"Hello {n}, here is what's new.\n" * (repeat // 2),
            from_email="Ladder <news@ladder.example>",
            to=[f"Customer {n} <customer{n}@example.com>"],
            reply_to=["support@ladder.example"],
            headers={
                "List-Unsubscribe": f"<https://ladder.example/u/{n}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            },
        )
        message.attach_alternative(html, "text/html")
        message.tags = ["weekly"]
        message.metadata = {"delivery": str(n), "variant": "a"}
        messages.append(message)
    return messages


class _Chunks:
    """Messages made a chunk at a time, as the dispatcher renders them, and only the
    work done on each chunk timed: keeping every message alive at once would
    make the garbage collector, not the code, the figure."""

    def __init__(self, total: int, size: int, html_bytes: int) -> None:
        self.total, self.size, self.html_bytes = total, size, html_bytes
        self.cpu = self.wall = 0.0

    def __iter__(self) -> Iterator[list]:
        for first in range(0, self.total, self.size):
            chunk = _bench_messages(first, min(self.size, self.total - first), self.html_bytes)
            cpu, wall = time.process_time(), time.perf_counter()
            yield chunk
            self.cpu += time.process_time() - cpu
            self.wall += time.perf_counter() - wall


def bench(*, messages: int, html_bytes: int, anymail_messages: int) -> dict[str, Any]:
    """Payload building, the sink alone, and both backends end to end against it."""
    import http.client

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from anymail.backends.postmark import EmailBackend as AnymailBackend
    from anymail.backends.postmark import PostmarkPayload
    from django.conf import settings

    from campaigns.backends.postmark_batch import BatchPostmarkPayload, EmailBackend

    results: dict[str, Any] = {}
    with spawn(keep=False) as (client, pid):
        settings.ANYMAIL = {"POSTMARK_SERVER_TOKEN": DEFAULT_TOKEN, "POSTMARK_API_URL": client.url}
        batch, anymail = EmailBackend(), AnymailBackend()

        # 1. Building and serializing one message's JSON, ours and anymail's.
        chunks = _Chunks(messages, BATCH_LIMIT, html_bytes)
        sizes = []
        for chunk in chunks:
            sizes += [len(BatchPostmarkPayload(m, {}, batch).batch_entry()) for m in chunk]
        results["batch_payload_us"] = chunks.cpu / messages * 1e6
        results["message_bytes"] = sum(sizes) / len(sizes)
        chunks = _Chunks(anymail_messages, BATCH_LIMIT, html_bytes)
        for chunk in chunks:
            for message in chunk:
                PostmarkPayload(message, {}, anymail).serialize_data()
        results["anymail_payload_us"] = chunks.cpu / anymail_messages * 1e6

        # 2. The sink alone: one ready-made batch of 500, posted again and again.
        sample = _bench_messages(0, BATCH_LIMIT, html_bytes)
        body = orjson.dumps([BatchPostmarkPayload(m, {}, batch).data for m in sample])
        host, port = client.url.split("//")[1].rstrip("/").split(":")
        connection = http.client.HTTPConnection(host, int(port))
        headers = {"Content-Type": "application/json", "X-Postmark-Server-Token": DEFAULT_TOKEN}
        calls = max(1, messages // BATCH_LIMIT)
        sink_cpu, started = _cpu_seconds(pid), time.perf_counter()
        for _ in range(calls):
            connection.request("POST", "/email/batch", body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            assert response.status == 200, response.status
        seconds = time.perf_counter() - started
        connection.close()
        results["sink_messages_per_s"] = calls * BATCH_LIMIT / seconds
        results["sink_cpu_us_per_message"] = (
            (_cpu_seconds(pid) - sink_cpu) / (calls * BATCH_LIMIT) * 1e6
        )

        # 3. Ladder's batch backend end to end: build, serialize, POST, read the statuses.
        client.reset()
        chunks = _Chunks(messages, batch.batch_size, html_bytes)
        sink_cpu = _cpu_seconds(pid)
        with batch:  # one session, one connection, for all the calls
            accepted = sum(batch.send_messages(chunk) for chunk in chunks)
        results["batch_messages_per_s"] = messages / chunks.wall
        results["batch_cpu_us_per_message"] = chunks.cpu / messages * 1e6
        results["batch_sink_cpu_us_per_message"] = (_cpu_seconds(pid) - sink_cpu) / messages * 1e6
        received = client.snapshot()
        assert accepted == received["accepted"] == messages, (accepted, received["accepted"])
        assert max(call["messages"] for call in received["calls"]) <= BATCH_LIMIT

        # 4. anymail's Postmark backend, one call per message, for comparison.
        chunks = _Chunks(anymail_messages, BATCH_LIMIT, html_bytes)
        with anymail:
            for chunk in chunks:
                anymail.send_messages(chunk)
        results["anymail_messages_per_s"] = anymail_messages / chunks.wall
        results["anymail_cpu_us_per_message"] = chunks.cpu / anymail_messages * 1e6
    return {name: round(value, 1) for name, value in results.items()}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sinks.postmark", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025, help="0: any free port (8025)")
    parser.add_argument("--token", default=DEFAULT_TOKEN, help="the server token it accepts")
    parser.add_argument(
        "--keep-nothing", action="store_true", help="record only counts and ids (benchmarks)"
    )
    parser.add_argument("--bench", action="store_true", help="measure instead of serving")
    parser.add_argument("--messages", type=int, default=20_000, help="--bench: messages (20000)")
    parser.add_argument(
        "--html-bytes", type=int, default=12_000, help="--bench: HTML part size (12000)"
    )
    parser.add_argument(
        "--anymail-messages",
        type=int,
        default=2_000,
        help="--bench: messages through anymail's per-message backend (2000)",
    )
    args = parser.parse_args(argv)
    if not args.bench:
        serve(host=args.host, port=args.port, token=args.token, keep=not args.keep_nothing)
        return 0
    started_at = datetime.now(UTC)
    results = bench(
        messages=args.messages, html_bytes=args.html_bytes, anymail_messages=args.anymail_messages
    )
    for name, value in results.items():
        print(f"{name:32} {value:>12,.1f}")
    report = {
        "started_at": started_at.isoformat(timespec="seconds"),
        "command": " ".join(["python -m bench.sinks.postmark", *argv]),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "results": results,
    }
    directory = Path(__file__).resolve().parents[1] / "results"
    directory.mkdir(exist_ok=True)
    path = directory / f"{started_at:%Y%m%dT%H%M%SZ}-postmark.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"Written: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
