"""`pushcast run --events FILE|-`: newline-delimited JSON events.

A malformed line is logged with its line number and counted, and reading goes on. For a
file, the byte offset after each batch is committed with the batch itself, so a restart
resumes after the last applied line: no event is applied twice or skipped. Standard
input cannot be re-read, so it has no such memory.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path

import orjson

from engine.core import EventError
from engine.shell.validate import validate_event

log = logging.getLogger("pushcast.events")
BATCH_LINES = 1000


class EventFileReader:
    def __init__(self, runtime, source: str, allowlist, metrics=None):
        self.runtime = runtime
        self.source = source
        self.allowlist = allowlist
        self.metrics = metrics
        self.accepted = 0
        self.rejected = 0
        self.done = asyncio.Event()

    def _parse(self, line: bytes, number: int, batch: list) -> None:
        if not line.strip():
            return
        try:
            raw = orjson.loads(line)
            batch.append(validate_event(raw, self.runtime.clock.now(), self.allowlist, self._max_ahead_ms()))
        except orjson.JSONDecodeError as exc:
            self._reject(number, f"invalid JSON: {exc}")
        except EventError as exc:
            self._reject(number, str(exc))

    def _max_ahead_ms(self) -> int:
        return self.runtime.campaigns.config.max_event_ahead * 1000

    def _reject(self, number: int, reason: str) -> None:
        self.rejected += 1
        log.warning("%s:%d: event rejected: %s", self._name(), number, reason)
        if self.metrics is not None:
            self.metrics.events_rejected.labels("file").inc()

    def _name(self) -> str:
        return "<stdin>" if self.source == "-" else self.source

    async def _submit(self, batch: list, meta: dict | None) -> None:
        await self.runtime.submit(batch, meta)
        self.accepted += len(batch)
        if self.metrics is not None and batch:
            self.metrics.events_accepted.labels("file").inc(len(batch))

    async def run(self) -> None:
        try:
            if self.source == "-":
                await self._read_stdin()
            else:
                await self._read_file(Path(self.source))
            log.info("%s: done, %d event(s) applied, %d line(s) rejected", self._name(), self.accepted, self.rejected)
        finally:
            self.done.set()

    async def _read_file(self, path: Path) -> None:
        key = f"events_file:{path.resolve()}"
        st = path.stat()
        identity = f"{st.st_dev}:{st.st_ino}"
        offset, number = 0, 0
        saved = self.runtime.store.get_meta(key)
        if saved:
            parts = saved.split(":")
            if len(parts) == 4 and f"{parts[0]}:{parts[1]}" == identity and int(parts[2]) <= st.st_size:
                offset, number = int(parts[2]), int(parts[3])
                log.info("%s: resuming after line %d (byte %d)", path, number, offset)
        with open(path, "rb") as file:
            file.seek(offset)
            batch: list = []
            lines = 0
            for line in file:
                number += 1
                offset += len(line)
                lines += 1
                self._parse(line, number, batch)
                if lines >= BATCH_LINES:
                    await self._submit(batch, {key: f"{identity}:{offset}:{number}"})
                    batch, lines = [], 0
            if lines:
                await self._submit(batch, {key: f"{identity}:{offset}:{number}"})

    async def _read_stdin(self) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=2 ** 22)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(os.dup(sys.stdin.fileno()), "rb"))
        number = 0
        batch: list = []
        while True:
            try:
                line = await reader.readline()
            except ValueError:  # a line over the limit
                number += 1
                self._reject(number, "line too long")
                continue
            if not line:
                break
            number += 1
            self._parse(line, number, batch)
            # Submit when a burst ends or the batch is full: a slow producer sees no delay.
            if len(batch) >= BATCH_LINES or not reader._buffer:  # noqa: SLF001
                if batch:
                    await self._submit(batch, None)
                batch = []
        if batch:
            await self._submit(batch, None)
