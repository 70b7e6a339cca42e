"""The Postmark sink for bench.delivery: ``bench.sinks.postmark`` keeping a summary.

The sink either keeps every parsed message (about 12 KB each: 1.2 GB and a
1 GB ``GET /_sink/messages`` answer for 100,000 emails) or only counts and
MessageIDs, which cannot show a duplicate or a message to the wrong person.
The checks need three fields per message, so this process runs the same sink
(same handler, same answers, same cost per request) with a state that also
keeps ``[To, Subject, Metadata.delivery_id, Message-ID header]`` per message,
returned as ``"summaries"`` by ``GET /_sink/messages``.

    python -m bench.delivery_sink --port 0    # prints "Postmark sink listening on URL"
"""

import argparse
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.sinks import postmark


def summary(message: object) -> list:
    """What the checks need of one Postmark message: recipient, subject, delivery id."""
    if not isinstance(message, dict):
        return [None, None, None, None]
    metadata = message.get("Metadata") or {}
    message_id = None
    for header in message.get("Headers") or ():
        if isinstance(header, dict) and str(header.get("Name", "")).lower() == "message-id":
            message_id = header.get("Value")
            break
    return [message.get("To"), message.get("Subject"), metadata.get("delivery_id"), message_id]


class SummaryState(postmark.SinkState):
    """The sink's state with one summary row per message received."""

    def reset(self) -> None:
        super().reset()
        with self.lock:
            self.summaries: list[list] = []

    def record(self, path: str, messages: list, ids: list[str], status: int) -> None:
        rows = [summary(message) for message in messages]  # outside the lock
        super().record(path, messages, ids, status)
        if status == 200:
            with self.lock:
                self.summaries.extend(rows)

    def snapshot(self) -> dict[str, Any]:
        answer = super().snapshot()
        with self.lock:
            answer["summaries"] = list(self.summaries)
        # Not needed by the checks, and 100,000 entries each.
        answer.pop("message_ids", None)
        answer["calls"] = len(answer["calls"])
        return answer


def serve(*, host: str, port: int, token: str) -> None:
    sink = postmark.PostmarkSink(host=host, port=port, token=token, keep=False)
    state = SummaryState(token=token, keep=False)
    sink.state = sink.server.state = state
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=sink.server.shutdown).start())
    print(f"Postmark sink listening on {sink.url}", flush=True)
    try:
        sink.server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        sink.server.server_close()


@contextmanager
def spawn(*, token: str = postmark.DEFAULT_TOKEN) -> Iterator[tuple[postmark.SinkClient, int]]:
    """The summary sink in a process of its own on a free port: yields (client, pid)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.delivery_sink", "--port", "0", "--token", token],
        cwd=Path(__file__).resolve().parent.parent,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError("the Postmark sink process exited before listening")
        yield postmark.SinkClient(line.split()[-1]), process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.delivery_sink", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port (0)")
    parser.add_argument("--token", default=postmark.DEFAULT_TOKEN)
    args = parser.parse_args(argv)
    serve(host=args.host, port=args.port, token=args.token)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
