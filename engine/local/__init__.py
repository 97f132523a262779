"""The embedded runtime (`pushcast run`): the core in one asyncio process, state on
local disk in SQLite, no Kafka, no Redis.

    HTTP / --events file ─▶ writer (one at a time, group commit) ─▶ SQLite (WAL)
    timers (heap of users.next_due) ─┘   │ users · outbox · stats · reports · meta
    scheduler (scheduled campaigns) ─┘   ▼
    sender loop ◀─ outbox rows ── push services ──▶ results back to the writer

What is guaranteed:
- An event acknowledged (HTTP 200, or a file line whose batch was committed) is applied
  exactly once: its state change, the sends it decides and the counters it moves are one
  transaction, fsynced (`synchronous=FULL`) before the answer. A kill -9 loses nothing
  acknowledged and counts nothing twice. A client that resends an unacknowledged event
  with the same `ts` produces the same message id, and the outbox refuses a second copy.
- Waits are state: each user's earliest due time is stored with the state
  (`users.next_due`) and the timer heap is rebuilt from it at start. A wait due while
  the runtime was down fires at the next start. On the real clock a due wait fires
  within milliseconds (histogram `pushcast_wait_lateness_seconds`).
- Sending is at least once to the push service, never silently lost: an outbox row is
  marked done in the same transaction that counts its outcome and feeds the result
  (`$notification_sent` / `_failed` / `$push_unsubscribe`) back to the core. A row marked
  done is never sent again, and a (message id, endpoint) pair is queued at most once
  within the de-duplication horizon (7 days). The one duplicate window: a crash after a
  push service accepted a message and before its row was committed done (one commit,
  milliseconds); the repeat carries the same `Topic` header, so a push service still
  holding the first copy for an offline browser replaces it.
- Stats are exact: counted in the transaction of what they count; shown/clicked once per
  message, only with the message's signature (HMAC-SHA256 of the message id, put in the
  payload as `sig`); campaign and user of a report are taken from the outbox, not from
  the report.
- Power loss: with `synchronous=FULL`, committed batches survive it too.

Not covered: a file given as `--events -` (stdin) cannot be resumed after a crash; of
pushcast.yaml, only what decisions read reloads live (`engine.shell.reload`).
"""
