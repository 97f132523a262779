"""`pushcast run` as a subprocess on a test clock, driven over HTTP only (engine.testing
never imports a runtime): events in with `POST /v1/events`, the clock moved with
`POST /v1/admin/clock` (which answers after making the runs and firing the waits now due),
idle when `/healthz` says the outbox is empty (every decided push delivered)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from engine.core.isotime import iso, parse_iso
from engine.testing.config import RuntimeFiles
from engine.testing.emulator import free_port
from engine.testing.failure import RuntimeFailure

BATCH = 1000  # the most events `POST /v1/events` takes at once


class EmbeddedRuntime:
    def __init__(self, files: RuntimeFiles, directory: Path, start_ms: int, timeout: float = 60.0):
        self.files = files
        self.directory = directory
        self.state_dir = directory / "state"
        self.start_ms = start_ms
        self.timeout = timeout
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self.starts = 0
        self.now: int | None = None

    # --- lifecycle -------------------------------------------------------------------

    def start(self) -> "EmbeddedRuntime":
        self.starts += 1
        self.log = self.directory / f"run-{self.starts}.log"
        with open(self.log, "wb") as out:
            # A restart goes on from the clock reading the state folder kept, not from here.
            self.process = subprocess.Popen(
                [sys.executable, "-m", "engine.cli", "run", "--config", str(self.files.config),
                 "--campaigns", str(self.files.campaigns), "--state-dir", str(self.state_dir),
                 "--port", str(self.port), "--test-clock", iso(self.start_ms)],
                cwd=self.directory, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + self.timeout
        while True:
            self._check_alive()
            try:
                status, health = self._request("GET", "/healthz")
                if status == 200:
                    self.now = parse_iso(health["now"])
                    return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeFailure(f"pushcast run did not answer /healthz within {self.timeout:g}s\n{self.output()}")
            time.sleep(0.05)

    def kill(self) -> None:
        """kill -9: nothing of the shutdown runs."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def restart(self, at_ms: int) -> None:
        """kill -9, start again on the same state folder (its clock goes on from the
        reading it kept), then move the clock to `at_ms`: what fell due meanwhile is
        caught up when the clock moves, as at a start after real downtime."""
        self.kill()
        self.start()
        self.set_clock(at_ms)

    def runs_made(self, count: int) -> None:
        pass  # the clock call answers after making the runs due

    def winners_judged(self, at_ms: int) -> None:
        pass  # `POST /v1/admin/clock` answers after judging them

    def cannot_reload_config(self) -> str | None:
        return None  # `POST /v1/admin/reload` reads pushcast.yaml with the campaign files

    def reload_config(self) -> None:
        """Reload now, through the admin API; it answers once the new set is running."""
        status, body = self._request("POST", "/v1/admin/reload")
        if status != 200 or not (body or {}).get("reloaded"):
            raise RuntimeFailure(f"POST /v1/admin/reload answered {status}: {body}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.kill()

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""

    def _check_alive(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeFailure(f"pushcast run exited with {self.process.returncode}:\n{self.output()}")

    # --- what the runner asks ----------------------------------------------------------

    def set_clock(self, at_ms: int) -> None:
        if self.now is not None and at_ms <= self.now:
            return  # a test clock never goes back; equal is a no-op
        status, body = self._request("POST", "/v1/admin/clock", {"set": iso(at_ms)})
        if status != 200:
            raise RuntimeFailure(f"POST /v1/admin/clock {iso(at_ms)} answered {status}: {body}")
        self.now = at_ms

    def send(self, records: list[dict]) -> None:
        for first in range(0, len(records), BATCH):
            batch = records[first:first + BATCH]
            status, body = self._request("POST", "/v1/events", batch)
            if status != 200:
                raise RuntimeFailure(f"POST /v1/events answered {status}: {body}\nevents: {batch}")

    def wait_idle(self) -> None:
        deadline = time.monotonic() + self.timeout
        while True:
            self._check_alive()
            status, health = self._request("GET", "/healthz")
            if status == 200 and not health.get("outbox_pending"):
                return
            if time.monotonic() > deadline:
                raise RuntimeFailure(f"the outbox still holds {health.get('outbox_pending')} push(es) after "
                                     f"{self.timeout:g}s\n{self.output()}")
            time.sleep(0.01)

    def explain(self, user: str, campaign: str | None) -> list[str]:
        """The user's decision log in words, as the runtime's API writes it."""
        query = urllib.parse.urlencode({"format": "text", **({"campaign": campaign} if campaign else {})})
        request = urllib.request.Request(f"{self.url}/v1/users/{urllib.parse.quote(user, safe='')}/decisions?{query}",
                                         headers={"Authorization": f"Bearer {self.files.admin_token}"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.read().decode().splitlines()
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return [f"no decisions logged for user {user} (no state)"]
            raise RuntimeFailure(f"GET /v1/users/{user}/decisions answered {exc.code}") from None

    def _request(self, method: str, path: str, body=None) -> tuple[int, dict | None]:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self.files.admin_token}"}
        request = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                text = response.read()
                return response.status, json.loads(text) if text else None
        except urllib.error.HTTPError as exc:
            text = exc.read()
            try:
                return exc.code, json.loads(text)
            except ValueError:
                return exc.code, {"body": text.decode(errors="replace")}
