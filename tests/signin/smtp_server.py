"""A tiny SMTP server on a loopback port, for Django's real SMTP backend to talk to.

Enough of RFC 5321 for smtplib without TLS or AUTH: greeting, EHLO/HELO, MAIL, RCPT,
DATA, RSET, NOOP, QUIT. It can play a slow relay (`hold`: the greeting waits until the
test releases it) or a failing one (`reject_data`: 554 after the message).
"""

from __future__ import annotations

import socketserver
import threading
from dataclasses import dataclass, field


@dataclass
class SmtpServer:
    hold: bool = False
    reject_data: bool = False
    # How long a held greeting waits at most, so a portal that does wait for the relay
    # gets its answer (and fails the test) instead of hanging it.
    hold_limit: float = 10.0
    messages: list[bytes] = field(default_factory=list)
    connections: int = 0
    released: threading.Event = field(default_factory=threading.Event)
    delivered: threading.Event = field(default_factory=threading.Event)
    _server: socketserver.ThreadingTCPServer | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.server_address[1]

    def mailer(self) -> dict:
        """A MAILERS entry: Django's SMTP backend pointed at this server."""
        return {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": self.port, "use_tls": False, "timeout": 30},
        }

    def release(self) -> None:
        self.released.set()

    def start(self) -> SmtpServer:
        owner = self

        class Session(socketserver.StreamRequestHandler):
            def reply(self, line: str) -> None:
                self.wfile.write(line.encode() + b"\r\n")
                self.wfile.flush()

            def handle(self) -> None:
                owner.connections += 1
                if owner.hold:
                    owner.released.wait(owner.hold_limit)
                self.reply("220 test-relay ESMTP")
                while line := self.rfile.readline():
                    verb = line.decode("ascii", "replace").strip().split(" ", 1)[0].upper()
                    if verb in {"EHLO", "HELO"}:
                        self.reply("250 test-relay")
                    elif verb in {"MAIL", "RCPT", "RSET", "NOOP"}:
                        self.reply("250 OK")
                    elif verb == "DATA":
                        self.reply("354 End data with <CR><LF>.<CR><LF>")
                        self.receive_message()
                    elif verb == "QUIT":
                        self.reply("221 Bye")
                        return
                    else:
                        self.reply("502 Command not implemented")

            def receive_message(self) -> None:
                lines = []
                while (line := self.rfile.readline()) not in {b".\r\n", b".\n", b""}:
                    lines.append(line[1:] if line.startswith(b"..") else line)
                if owner.reject_data:
                    self.reply("554 Transaction failed: relay refuses this message")
                    return
                owner.messages.append(b"".join(lines))
                owner.delivered.set()
                self.reply("250 OK: queued")

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Session)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.release()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
