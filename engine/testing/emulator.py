"""The push-service emulator (the npm `web-push-testing`, installed by scripts/setup into
node_modules): it checks each request's VAPID JWT and key, decrypts the aes128gcm payload
and keeps it per subscription. `pushcast test --runtime embedded|kafka` and the
integration tests deliver to it; this is the one copy of the code that starts and drives it.

Its endpoints are `http://localhost:PORT/notify/<hash>`: a runtime must allow-list
`emulator.origin` in `push_services` (an `http://localhost:PORT` entry, for tests only).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVER_JS = Path("node_modules") / "web-push-testing" / "src" / "bin" / "server.js"


class EmulatorError(RuntimeError):
    """The emulator is missing, did not start or answered an error."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PushEmulator:
    """The emulator's HTTP API, on 127.0.0.1:`port`."""

    def __init__(self, port: int):
        self.port = port
        self.origin = f"http://localhost:{port}"

    def _post(self, path: str, body: dict | None = None) -> tuple[int, dict | None]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", data=json.dumps(body or {}).encode(),
            headers={"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                text = response.read()
                return response.status, json.loads(text) if text.strip().startswith(b"{") else None
        except urllib.error.HTTPError as exc:
            return exc.code, None

    def subscribe(self, application_server_key: str) -> dict:
        """A new subscription: {endpoint, keys: {p256dh, auth}, clientHash}."""
        status, body = self._post("/subscribe", {"applicationServerKey": application_server_key,
                                                 "userVisibleOnly": "true"})
        if status != 200:
            raise EmulatorError(f"emulator /subscribe answered {status}: {body}")
        return body["data"]

    def expire(self, client_hash: str) -> None:
        status, _ = self._post(f"/expire-subscription/{client_hash}")
        if status != 200:
            raise EmulatorError(f"emulator /expire-subscription answered {status}")

    def notifications(self, client_hash: str) -> list[str]:
        """The decrypted payloads received for this subscription, oldest first (the
        emulator keeps them all, so a caller tracks how many it has seen)."""
        status, body = self._post("/get-notifications", {"clientHash": client_hash})
        if status != 200:
            raise EmulatorError(f"emulator /get-notifications answered {status}")
        return body["data"]["messages"]

    def ready(self) -> bool:
        try:
            return self._post("/status")[0] == 200
        except OSError:
            return False


class EmulatorProcess:
    """`with EmulatorProcess.start() as emulator:` a running emulator, stopped on exit."""

    def __init__(self, process: subprocess.Popen, emulator: PushEmulator):
        self.process = process
        self.emulator = emulator

    @classmethod
    def start(cls, root: Path | None = None, timeout: float = 20.0) -> "EmulatorProcess":
        """`root`: the folder holding node_modules (default: the checkout this package
        is in, else the current folder, for an installed pushcast)."""
        node = shutil.which("node")
        if node is None:
            raise EmulatorError("node is not installed: the push-service emulator needs Node >= 20 (scripts/setup)")
        if root is None:
            root = next((r for r in (ROOT, Path.cwd()) if (r / SERVER_JS).exists()), ROOT)
        script = root / SERVER_JS
        if not script.exists():
            raise EmulatorError(f"{script} is missing: run scripts/setup (npm install web-push-testing)")
        port = free_port()
        process = subprocess.Popen([node, str(script), str(port)], cwd=root,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        running = cls(process, PushEmulator(port))
        deadline = time.monotonic() + timeout
        while not running.emulator.ready():
            if process.poll() is not None:
                output = process.stdout.read().decode(errors="replace")
                raise EmulatorError(f"web-push-testing exited with {process.returncode}:\n{output}")
            if time.monotonic() > deadline:
                running.stop()
                raise EmulatorError(f"web-push-testing did not answer /status within {timeout:g}s")
            time.sleep(0.05)
        return running

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout:
            self.process.stdout.close()

    def __enter__(self) -> PushEmulator:
        return self.emulator

    def __exit__(self, *exc) -> None:
        self.stop()
