"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives.

Recipients choose the answer: ``nobody…`` is refused (550), ``later…`` is
greylisted (451), ``slow…`` is held in DATA until :meth:`Sink.release`.
"""

import asyncio
import email
import email.policy
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.sessions: set = set()
        #: Set while a ``slow…`` message is being held.
        self.holding = threading.Event()
        self._release = threading.Event()

    def release(self) -> None:
        self._release.set()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("nobody"):
            return "550 5.1.1 No such user"
        if address.startswith("later"):
            return "451 4.7.1 Greylisted, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if any(address.startswith("slow") for address in envelope.rcpt_tos):
            self.holding.set()
            while not self._release.is_set():
                await asyncio.sleep(0.05)
            return "451 4.3.0 Took too long"
        self.sessions.add(session.peer)
        self.messages.append(
            email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        )
        return "250 Message accepted"

    def recipients(self) -> list[str]:
        return [message["To"].addresses[0].addr_spec for message in self.messages]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def smtp_sink() -> Iterator[tuple[Sink, int]]:
    """A running sink and its port."""
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield sink, controller.port
    finally:
        sink.release()
        controller.stop()
