"""A pass-through in front of the push-service emulator that keeps what the emulator
throws away: the `TTL` and `Urgency` headers of each push it accepted. A campaign test
may expect `ttl:` or `urgency:`, and the emulator keeps only the decrypted payload.

Runtimes are given endpoints on the recorder's origin (`endpoint()` rewrites one); each
request is forwarded unchanged to the emulator and its answer returned. A second origin
stands in for Apple's push service: a test file's Apple endpoints are given endpoints on
it, and runtimes are told it takes Declarative Web Push messages (as Apple's does). Requests are
forwarded one at a time so that the n-th recorded header set of a subscription belongs
to the n-th payload the emulator kept for it.
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from engine.testing.emulator import PushEmulator

FORWARDED = ("Content-Type", "Content-Encoding", "Authorization", "TTL", "Urgency", "Topic", "Crypto-Key", "Encryption")


class RecordingProxy:
    def __init__(self, emulator: PushEmulator):
        self.emulator = emulator
        self.headers: dict[str, list[dict]] = defaultdict(list)  # client hash -> accepted pushes' headers
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, answer = proxy._forward(self.path, {h: self.headers[h] for h in FORWARDED if h in self.headers},
                                                body)
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args) -> None:  # quiet: the runner prints its own report
                pass

        self._servers = [ThreadingHTTPServer(("127.0.0.1", 0), Handler) for _ in range(2)]
        self.origin, self.apple_origin = (f"http://localhost:{s.server_address[1]}" for s in self._servers)
        self._threads = [threading.Thread(target=s.serve_forever, name="push-recorder", daemon=True)
                         for s in self._servers]
        for thread in self._threads:
            thread.start()

    def endpoint(self, emulator_endpoint: str, apple: bool = False) -> str:
        return emulator_endpoint.replace(self.emulator.origin, self.apple_origin if apple else self.origin, 1)

    def _forward(self, path: str, headers: dict, body: bytes) -> tuple[int, bytes]:
        request = urllib.request.Request(f"http://127.0.0.1:{self.emulator.port}{path}", data=body, headers=headers,
                                         method="POST")
        with self._lock:
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    status, answer = response.status, response.read()
            except urllib.error.HTTPError as exc:
                status, answer = exc.code, exc.read()
            except OSError as exc:
                return 502, str(exc).encode()
            if 200 <= status < 300 and path.startswith("/notify/"):
                self.headers[path.rsplit("/", 1)[1]].append(
                    {"ttl": int(headers.get("TTL", 0)), "urgency": headers.get("Urgency", "normal")})
        return status, answer

    def stop(self) -> None:
        for server, thread in zip(self._servers, self._threads):
            server.shutdown()
            server.server_close()
            thread.join(5)
