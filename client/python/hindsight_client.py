"""The Python logger for model services: ``log_prediction()`` returns at once with the
prediction's id, and a background thread sends predictions, outcomes and actions to
``hindsight serve`` (``POST /v1/predictions``, ``/v1/outcomes``, ``/v1/actions``) in NDJSON
batches: when a batch is full, on an interval, on ``flush()``/``close()`` and when the
interpreter exits. The request path never waits on Hindsight or its database.

Standard library only (Python 3.11+), so a service can copy this one file without the rest
of Hindsight::

    from hindsight_client import HindsightClient

    hindsight = HindsightClient("http://hindsight:8787", token=os.environ.get("HINDSIGHT_API_TOKEN"))
    prediction_id = hindsight.log_prediction({"model_name": "fraud", "model_version": "3.1",
                                              "score": score, "entity_ids": {"transaction_id": tx}})
    hindsight.log_action({"prediction_id": prediction_id, "action": "review"})
    ...
    hindsight.close()  # also done at exit

What happens when Hindsight is slow or down:

- ``log_*()`` only appends to a bounded in-memory queue. When ``max_queue_size`` records
  are waiting, the record being logged is **dropped and counted** (``stats()["dropped"]``,
  ``on_error`` is told) rather than making the caller wait or the memory grow.
- A batch answered 5xx, 408 or 429, or lost to a connection error or timeout, is retried
  up to ``max_attempts`` times with exponential backoff and jitter (ingest is idempotent,
  so a re-sent batch stores nothing twice). Any other 4xx is not retried: the server's
  ``{"error": ...}`` goes to ``on_error`` and the batch counts as ``failed``.
- Records the server rejected one by one (a 200 answer with ``rejected``) go to
  ``on_error`` with the server's line-by-line reasons and count as ``rejected``.

The record fields are those of the ingestion docs (docs/ingestion.md); the join and label
rules that decide what a logged prediction and outcome mean are in docs/label-semantics.md.
"""

from __future__ import annotations

import atexit
import datetime as _dt
import gzip as _gzip
import http.client
import json
import logging
import random
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import deque
from typing import Any, Callable, Mapping

__all__ = ["HindsightClient", "HindsightError", "KINDS"]

#: The record kinds, in the order a flush sends them (a prediction before its action).
KINDS = ("predictions", "outcomes", "actions")

_LOG = logging.getLogger("hindsight_client")

#: Answers worth sending the same batch again for: the server or the way to it may recover.
_RETRYABLE_STATUS = frozenset({408, 429})


class HindsightError(Exception):
    """What ``on_error`` receives: ``status`` is the HTTP status (None for a connection
    error, a full queue or a record that cannot be written as JSON)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


ErrorCallback = Callable[[HindsightError, str, list], None]


def _default_on_error(error: HindsightError, kind: str, records: list) -> None:
    _LOG.warning("hindsight client: %s (%d %s)", error, len(records), kind)


def _now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat().replace("+00:00", "Z")


def _json_default(value: Any) -> Any:
    # datetime.isoformat() keeps the offset of an aware datetime; a naive one has none and
    # the server rejects it by name, which is the right answer for an ambiguous instant.
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def _encode(record: Mapping[str, Any]) -> str:
    # allow_nan=False: NaN and Infinity are not JSON, and a score of NaN must be refused here
    # with a reason rather than sent as a line the server cannot parse.
    return json.dumps(record, allow_nan=False, default=_json_default, separators=(",", ":"))


class HindsightClient:
    """Batches records to ``hindsight serve`` from a daemon thread; thread-safe.

    :param url: base URL of ``hindsight serve``, e.g. ``http://hindsight:8787``.
    :param token: the server's ``HINDSIGHT_API_TOKEN``, when it requires one.
    :param batch_size: records per request; a kind with this many queued is sent at once.
    :param flush_interval: seconds the oldest queued record waits at most before it is sent.
    :param max_queue_size: records held (all kinds together) while Hindsight is unreachable;
        beyond it new records are dropped and counted.
    :param max_attempts: attempts per batch on 5xx, 408, 429, connection errors and timeouts.
    :param backoff: seconds before the first retry; doubled each attempt up to ``max_backoff``,
        each wait drawn between half and all of that (jitter, so clients do not retry in step).
    :param request_timeout: seconds per request.
    :param gzip: send bodies with ``Content-Encoding: gzip``.
    :param on_error: ``on_error(error, kind, records)`` for records that were not stored:
        dropped, failed or rejected. The default logs a warning on the ``hindsight_client``
        logger. It runs on the client's thread (or the caller's, for a drop), so it must not block.
    :param flush_at_exit: flush on interpreter exit (``atexit``), waiting at most ``exit_timeout`` s.
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        batch_size: int = 500,
        flush_interval: float = 1.0,
        max_queue_size: int = 100_000,
        max_attempts: int = 5,
        backoff: float = 0.2,
        max_backoff: float = 5.0,
        request_timeout: float = 10.0,
        gzip: bool = False,
        on_error: ErrorCallback | None = None,
        flush_at_exit: bool = True,
        exit_timeout: float = 5.0,
    ) -> None:
        if batch_size < 1 or max_queue_size < 1 or max_attempts < 1:
            raise ValueError("batch_size, max_queue_size and max_attempts must be at least 1")
        if flush_interval <= 0 or request_timeout <= 0 or backoff < 0 or max_backoff < backoff:
            raise ValueError("flush_interval and request_timeout must be positive, 0 <= backoff <= max_backoff")
        self._base_url = url.rstrip("/")
        self._token = token
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._max_queue_size = max_queue_size
        self._max_attempts = max_attempts
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._request_timeout = request_timeout
        self._gzip = gzip
        self._on_error = on_error if on_error is not None else _default_on_error
        self._exit_timeout = exit_timeout

        self._lock = threading.Condition()
        self._queues: dict[str, deque[tuple[str, Mapping[str, Any]]]] = {kind: deque() for kind in KINDS}
        self._queued = 0
        # Records accepted into the queue, and those done with (answered or given up): a
        # flush waits until the second catches up with what the first was when it was called.
        self._enqueued = 0
        self._finished = 0
        self._flush_requested = False
        self._next_flush = time.monotonic() + flush_interval
        self._closed = False
        self._stats = {"logged": 0, "sent": 0, "accepted": 0, "duplicates": 0, "conflicts": 0,
                       "rejected": 0, "dropped": 0, "failed": 0}

        self._thread = threading.Thread(target=self._run, name="hindsight-client", daemon=True)
        self._thread.start()
        self._exit_hook: Callable[[], None] | None = None
        if flush_at_exit:
            self._exit_hook = lambda: self.close(self._exit_timeout)
            atexit.register(self._exit_hook)

    # -- logging (the caller's thread: no I/O, no waiting) ----------------------------------

    def log_prediction(self, prediction: Mapping[str, Any]) -> str:
        """Queues a prediction and returns its ``prediction_id`` (a UUID v4 when absent;
        ``ts_pred`` is now when absent)."""
        record = dict(prediction)
        record.setdefault("prediction_id", str(uuid.uuid4()))
        record.setdefault("ts_pred", _now_iso())
        self.log("predictions", record)
        return str(record["prediction_id"])

    def log_outcome(self, outcome: Mapping[str, Any]) -> str:
        """Queues an outcome and returns its ``outcome_id`` (a UUID v4 when absent: give your
        own to make a re-sent outcome a duplicate; ``ts_event`` is now when absent)."""
        record = dict(outcome)
        record.setdefault("outcome_id", str(uuid.uuid4()))
        record.setdefault("ts_event", _now_iso())
        self.log("outcomes", record)
        return str(record["outcome_id"])

    def log_action(self, action: Mapping[str, Any]) -> None:
        """Queues an action taken on a prediction (``ts_action`` is now when absent)."""
        record = dict(action)
        record.setdefault("ts_action", _now_iso())
        self.log("actions", record)

    def log(self, kind: str, record: Mapping[str, Any]) -> None:
        """Queues one record of ``kind`` ("predictions", "outcomes" or "actions") as it is;
        never raises for a record it cannot send, never waits for the network."""
        if kind not in self._queues:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
        try:
            line = _encode(record)
        except (TypeError, ValueError) as error:
            with self._lock:
                self._stats["logged"] += 1
                self._stats["rejected"] += 1
            self._report(HindsightError(f"record cannot be written as JSON: {error}"), kind, [record])
            return
        reason = None
        with self._lock:
            self._stats["logged"] += 1
            if self._closed:
                reason = "client is closed; record not sent"
            elif self._queued >= self._max_queue_size:
                reason = f"queue holds {self._max_queue_size} records; record dropped"
            if reason:
                self._stats["dropped"] += 1
            else:
                queue = self._queues[kind]
                queue.append((line, record))
                self._queued += 1
                self._enqueued += 1
                if len(queue) >= self._batch_size:
                    self._lock.notify_all()
        if reason:
            self._report(HindsightError(reason), kind, [record])

    # -- flushing and shutdown ----------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> bool:
        """Sends everything queued so far; returns True once all of it was answered or given
        up, False when ``timeout`` seconds passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            target = self._enqueued
            self._flush_requested = True
            self._lock.notify_all()
            while self._finished < target:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                if not self._thread.is_alive():
                    return False
                self._lock.wait(remaining if remaining is not None else 0.5)
            return True

    def close(self, timeout: float | None = None) -> bool:
        """Stops accepting records, sends what is queued and stops the thread; returns False
        when ``timeout`` passed first (what is left is then lost with the process)."""
        with self._lock:
            self._closed = True
            self._lock.notify_all()
        if self._exit_hook is not None:
            atexit.unregister(self._exit_hook)
            self._exit_hook = None
        if threading.current_thread() is self._thread:
            return False
        self._thread.join(timeout)
        with self._lock:
            return not self._thread.is_alive() and self._finished >= self._enqueued

    def stats(self) -> dict[str, int]:
        """``logged``; ``sent`` (records in batches the server answered 200), of which
        ``accepted``, ``duplicates``, ``conflicts`` and ``rejected`` (``rejected`` also counts
        records that could not be written as JSON); ``dropped`` (queue full or client closed);
        ``failed`` (batches given up: retries exhausted or a 4xx); ``queued``."""
        with self._lock:
            return {**self._stats, "queued": self._queued}

    def __enter__(self) -> "HindsightClient":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the background thread ----------------------------------------------------------------

    def _run(self) -> None:
        while True:
            batches = self._next_batches()
            if batches is None:
                return
            for kind, batch in batches:
                self._send(kind, batch)
                with self._lock:
                    self._finished += len(batch)
                    self._lock.notify_all()

    def _next_batches(self) -> list[tuple[str, list]] | None:
        """Waits until something is due and takes it off the queues: every full batch, or
        everything when the interval ended, a flush was asked for or the client is closing.
        None once closed with nothing left."""
        with self._lock:
            while True:
                now = time.monotonic()
                if self._closed or self._flush_requested or now >= self._next_flush:
                    if self._queued > 0:
                        take_all = True
                        break
                    if self._closed:
                        return None
                    # Nothing queued: a pending flush() is answered; the interval starts again.
                    self._flush_requested = False
                    self._next_flush = now + self._flush_interval
                elif any(len(queue) >= self._batch_size for queue in self._queues.values()):
                    take_all = False
                    break
                self._lock.wait(max(0.0, self._next_flush - now))
            batches = []
            for kind in KINDS:
                queue = self._queues[kind]
                while len(queue) >= self._batch_size or (take_all and queue):
                    batch = [queue.popleft() for _ in range(min(self._batch_size, len(queue)))]
                    self._queued -= len(batch)
                    batches.append((kind, batch))
            if take_all:
                # A size-triggered send leaves the interval alone, so records of a quieter
                # kind still leave within flush_interval of the last interval flush.
                self._flush_requested = False
                self._next_flush = now + self._flush_interval
            return batches

    def _send(self, kind: str, batch: list[tuple[str, Mapping[str, Any]]]) -> None:
        body = ("\n".join(line for line, _ in batch) + "\n").encode("utf-8")
        headers = {"Content-Type": "application/x-ndjson"}
        if self._gzip:
            body = _gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        records = [record for _, record in batch]
        url = f"{self._base_url}/v1/{kind}"
        for attempt in range(1, self._max_attempts + 1):
            try:
                request = urllib.request.Request(url, data=body, headers=headers, method="POST")
                with urllib.request.urlopen(request, timeout=self._request_timeout) as response:
                    document = json.loads(response.read() or b"{}")
                if isinstance(document, dict):
                    self._record_answer(kind, records, document)
                    return
                error = HindsightError("hindsight answered 200 without its result document", 200)
                retryable = True
            except urllib.error.HTTPError as answer:
                error = HindsightError(f"hindsight answered {answer.code}: {_error_text(answer)}", answer.code)
                retryable = answer.code >= 500 or answer.code in _RETRYABLE_STATUS
            except (OSError, http.client.HTTPException, ValueError) as failure:
                # Refused or reset connections and timeouts are OSErrors (URLError among them),
                # a garbled answer an HTTPException, a 200 body that is not JSON a ValueError.
                error = HindsightError(f"could not reach hindsight at {url}: {getattr(failure, 'reason', failure)}")
                retryable = True
            if not retryable or attempt == self._max_attempts:
                break
            ceiling = min(self._max_backoff, self._backoff * 2 ** (attempt - 1))
            time.sleep(ceiling * (0.5 + random.random() / 2))
        with self._lock:
            self._stats["failed"] += len(records)
        self._report(error, kind, records)

    def _record_answer(self, kind: str, records: list, document: Mapping[str, Any]) -> None:
        rejected = document.get("rejected") or []
        with self._lock:
            self._stats["sent"] += len(records)
            self._stats["accepted"] += int(document.get("accepted", 0))
            self._stats["duplicates"] += int(document.get("duplicates", 0))
            self._stats["conflicts"] += int(document.get("conflicts", 0))
            self._stats["rejected"] += len(rejected)
        if rejected:
            reasons = "; ".join(f"#{r.get('line')} {r.get('field') or ''}: {r.get('error')}" for r in rejected[:5])
            lines = [r.get("line") for r in rejected]
            bad = [records[line - 1] for line in lines if isinstance(line, int) and 0 < line <= len(records)]
            self._report(HindsightError(f"hindsight rejected {len(rejected)} {kind}: {reasons}", 200), kind, bad)

    def _report(self, error: HindsightError, kind: str, records: list) -> None:
        try:
            self._on_error(error, kind, records)
        except Exception:  # a failing callback must not stop the client's thread
            _LOG.exception("hindsight client: on_error raised")


def _error_text(answer: urllib.error.HTTPError) -> str:
    """The server's ``{"error": ...}``, else the raw body, else the reason phrase."""
    try:
        raw = answer.read().decode("utf-8", "replace")
    except OSError:
        raw = ""
    try:
        document = json.loads(raw)
    except ValueError:
        document = None
    if isinstance(document, dict) and isinstance(document.get("error"), str):
        return document["error"]
    return raw.strip()[:500] or str(answer.reason)
