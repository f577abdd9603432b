"""A real HTTP endpoint on 127.0.0.1 that records the JSON bodies POSTed to it: the alert webhook's
receiving end in tests."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class WebhookReceiver:
    url: str
    status: int = 200
    bodies: list[dict] = field(default_factory=list)

    def wait_for(self, predicate, seconds: float) -> list[dict]:
        """The bodies matching predicate, waiting up to `seconds` for the first one."""
        deadline = time.monotonic() + seconds
        while True:
            found = [b for b in list(self.bodies) if predicate(b)]
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.2)


@contextmanager
def webhook_receiver(status: int = 200) -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            length = int(self.headers.get("Content-Length", 0))
            receiver.bodies.append(json.loads(self.rfile.read(length) or b"{}"))
            self.send_response(receiver.status)
            self.end_headers()

        def log_message(self, *args) -> None:  # keep the test output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_port}/hook"
    receiver.status = status
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
