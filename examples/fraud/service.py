"""The fraud example's model service: scores card transactions and logs every score to
Hindsight through ``hindsight_client``, the way a production Python service would
(examples/fraud/README.md, "The model service").

    python3 examples/fraud/service.py [--host 127.0.0.1] [--port 8080]
        [--hindsight-url http://127.0.0.1:8787] [--flush-interval 1.0] [--exit-timeout 5.0]

``HINDSIGHT_API_TOKEN`` is sent as the bearer token when set (``hindsight serve`` wants it
off loopback); ``HINDSIGHT_URL`` is the default of ``--hindsight-url``.

- ``POST /score`` takes a transaction ``{"transaction_id", "user_id", "amount", "channel",
  "region"}`` and answers ``{"prediction_id", "score", "decision"}``: ``block`` from a score
  of 0.5 on, else ``allow``. The prediction is queued for Hindsight, never waited for.
- ``POST /outcomes`` is where the review team and the issuer feed report what a transaction
  turned out to be: ``{"prediction_id", "outcome_type"}`` with ``fraud_confirmed`` or
  ``legit_confirmed`` (review) or ``chargeback`` (issuer), optionally ``ts_event`` (when it
  happened, with an offset; default now) and ``outcome_id``. Answers 202 ``{"outcome_id"}``.
- ``GET /healthz`` answers ``{"status": "ok"}`` while the service takes requests.

Bad input is answered 400 with ``{"error", "field"}``. On SIGTERM or SIGINT the service stops
taking requests, finishes those in flight, and flushes what is queued to Hindsight, waiting
at most ``--exit-timeout`` seconds: when Hindsight is down, scoring goes on and only the
logging is lost, counted in the last line the service writes.

Standard library only (Python 3.11+), like the client.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import math
import os
import signal
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Mapping

# The client is one file. This example imports it from the repository's client/python; a
# service of your own copies hindsight_client.py next to itself and imports it as it is.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "client" / "python"))
from hindsight_client import HindsightClient  # noqa: E402

_LOG = logging.getLogger("fraud-service")

#: What examples/fraud/generate.ts writes, so the example's label definition and policy apply.
MODEL = {"model_name": "fraud-model", "model_version": "3.2.0", "environment": "production"}
THRESHOLD = 0.5

# A logistic model small enough to read: the log-odds of fraud grow with the amount (in log
# units, so $20 and $2,000 differ by a fixed step), card-not-present is riskier than a card
# at a terminal, and the US slightly riskier than the EU.
INTERCEPT = -6.0
LOG_AMOUNT_WEIGHT = 0.9
CHANNEL_WEIGHTS = {"card_present": 0.0, "online": 0.8}
REGION_WEIGHTS = {"eu": 0.0, "us": 0.3}

#: Who reports each outcome type, which is also its outcome id's prefix: one review and one
#: chargeback per transaction, so a report sent twice is stored once.
OUTCOME_SOURCES = {"fraud_confirmed": "review", "legit_confirmed": "review", "chargeback": "issuer"}
_OUTCOME_ID_PREFIX = {"review": "review", "issuer": "chargeback"}

#: A transaction or an outcome is a few hundred bytes; anything much larger is not one.
MAX_BODY_BYTES = 64 * 1024


class BadRequest(Exception):
    """A request the service refuses, naming the field at fault (None: the body as a whole)."""

    def __init__(self, message: str, field: str | None = None, status: int = 400) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.status = status


def fraud_score(amount: float, channel: str, region: str) -> float:
    """The probability that the transaction is a fraud, rounded to 6 decimals."""
    log_odds = INTERCEPT + LOG_AMOUNT_WEIGHT * math.log1p(amount) + CHANNEL_WEIGHTS[channel] + REGION_WEIGHTS[region]
    return round(1.0 / (1.0 + math.exp(-log_odds)), 6)


def _text(body: Mapping[str, Any], field: str) -> str:
    value = body.get(field)
    if value is None:
        raise BadRequest("is required", field)
    if not isinstance(value, str) or not value.strip():
        raise BadRequest("must be a non-empty string", field)
    return value


def _one_of(body: Mapping[str, Any], field: str, allowed: Mapping[str, Any]) -> str:
    value = _text(body, field)
    if value not in allowed:
        raise BadRequest(f"must be one of {', '.join(allowed)}, not {value!r}", field)
    return value


def _amount(body: Mapping[str, Any]) -> float:
    value = body.get("amount")
    if value is None:
        raise BadRequest("is required", "amount")
    # bool is an int in Python; "amount": true is a mistake, not 1 dollar.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise BadRequest("must be a number of at least 0", "amount")
    return float(value)


def _timestamp(body: Mapping[str, Any], field: str) -> str | None:
    value = body.get(field)
    if value is None:
        return None
    try:
        instant = dt.datetime.fromisoformat(_text(body, field))
    except ValueError:
        raise BadRequest(f"must be an ISO 8601 timestamp, not {value!r}", field) from None
    # Hindsight refuses both, but only once the batch reaches it; the reporter is here now.
    if instant.tzinfo is None:
        raise BadRequest("must carry an offset (Z or +02:00): without one the instant is ambiguous", field)
    if instant > dt.datetime.now(dt.timezone.utc):
        raise BadRequest("is in the future: report an outcome once it has happened", field)
    return value


def _prediction_id(body: Mapping[str, Any]) -> str:
    value = _text(body, "prediction_id")
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise BadRequest("must be the UUID /score answered", "prediction_id") from None


class FraudService:
    """What the endpoints do, apart from HTTP: score and log, or log an outcome."""

    def __init__(self, hindsight: HindsightClient) -> None:
        self._hindsight = hindsight

    def score(self, transaction: Mapping[str, Any]) -> dict[str, Any]:
        transaction_id = _text(transaction, "transaction_id")
        user_id = _text(transaction, "user_id")
        amount = _amount(transaction)
        channel = _one_of(transaction, "channel", CHANNEL_WEIGHTS)
        region = _one_of(transaction, "region", REGION_WEIGHTS)
        score = fraud_score(amount, channel, region)
        decision = "block" if score >= THRESHOLD else "allow"
        # Only a queue append: the answer never waits on Hindsight, up or down.
        prediction_id = self._hindsight.log_prediction({
            **MODEL, "score": score, "threshold": THRESHOLD, "decision": decision, "region": region,
            "entity_ids": {"transaction_id": transaction_id, "user_id": user_id},
            "segment": {"channel": channel}, "features": {"amount": amount},
        })
        return {"prediction_id": prediction_id, "score": score, "decision": decision}

    def report_outcome(self, report: Mapping[str, Any]) -> dict[str, Any]:
        prediction_id = _prediction_id(report)
        outcome_type = _one_of(report, "outcome_type", OUTCOME_SOURCES)
        ts_event = _timestamp(report, "ts_event")
        source = OUTCOME_SOURCES[outcome_type]
        outcome_id = _text(report, "outcome_id") if "outcome_id" in report else f"{_OUTCOME_ID_PREFIX[source]}-{prediction_id}"
        outcome = {"outcome_id": outcome_id, "prediction_id": prediction_id, "outcome_type": outcome_type, "source": source}
        if ts_event is not None:
            outcome["ts_event"] = ts_event
        return {"outcome_id": self._hindsight.log_outcome(outcome)}


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.0 (the default): every answer closes its connection, so an idle keep-alive
    # client cannot hold the shutdown, which waits for the handler threads.
    server: "FraudServer"
    # Seconds a client may take to send its request: one that stalls gives up its thread
    # rather than holding the shutdown.
    timeout = 10
    routes = {"/score": ("score", 200), "/outcomes": ("report_outcome", 202)}

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        try:
            route = self.routes.get(self.path)
            if route is None:
                raise BadRequest(f"no such endpoint {self.path}; POST /score or /outcomes", status=404)
            method, status = route
            self._answer(status, getattr(self.server.service, method)(self._json_body()))
        except BadRequest as error:
            self._answer(error.status, {"error": str(error), "field": error.field})

    def do_GET(self) -> None:  # noqa: N802
        if self.path == "/healthz":
            self._answer(200, {"status": "ok"})
        else:
            self._answer(405, {"error": f"{self.path} takes no GET; POST /score or /outcomes", "field": None})

    def _json_body(self) -> Mapping[str, Any]:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            raise BadRequest("send the body with a Content-Length", status=411)
        if int(length) > MAX_BODY_BYTES:
            raise BadRequest(f"body exceeds {MAX_BODY_BYTES} bytes; send one transaction or outcome", status=413)
        raw = self.rfile.read(int(length))
        try:
            body = json.loads(raw)
        except ValueError as error:  # JSONDecodeError, and UnicodeDecodeError for bytes that are not UTF-8
            raise BadRequest(f"body is not JSON: {error}") from None
        if not isinstance(body, dict):
            raise BadRequest("body must be a JSON object")
        return body

    def _answer(self, status: int, document: Mapping[str, Any]) -> None:
        body = (json.dumps(document) + "\n").encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's signature)
        _LOG.debug("%s %s", self.address_string(), format % args)


class FraudServer(ThreadingHTTPServer):
    # Non-daemon handler threads, so server_close() waits for the requests in flight and
    # their predictions are queued before the client's last flush.
    daemon_threads = False

    def __init__(self, address: tuple[str, int], service: FraudService) -> None:
        super().__init__(address, _Handler)
        self.service = service


def _positive_seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds above 0, not {text!r}")
    return seconds


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="The fraud example's model service (examples/fraud/README.md).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    parser.add_argument("--hindsight-url", default=os.environ.get("HINDSIGHT_URL", "http://127.0.0.1:8787"))
    parser.add_argument("--flush-interval", type=_positive_seconds, default=1.0, help="seconds a queued record waits at most")
    parser.add_argument("--exit-timeout", type=_positive_seconds, default=5.0, help="seconds the last flush may take")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s: %(message)s")
    # flush_at_exit=False: the exit is ours (below), bounded by --exit-timeout, after the
    # last request has been answered.
    hindsight = HindsightClient(args.hindsight_url, token=os.environ.get("HINDSIGHT_API_TOKEN"),
                                flush_interval=args.flush_interval, flush_at_exit=False)
    server = FraudServer((args.host, args.port), FraudService(hindsight))

    def stop(signum: int, _frame: object) -> None:
        _LOG.info("%s: stopping", signal.Signals(signum).name)
        # shutdown() waits for serve_forever(), which runs on this very thread: call it from another.
        threading.Thread(target=server.shutdown, name="shutdown").start()

    # Python's default SIGTERM ends the process at once, without atexit: what is queued would be lost.
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    host, port = server.server_address[:2]
    _LOG.info("listening on http://%s:%d, logging to hindsight at %s", host, port, args.hindsight_url)
    server.serve_forever()
    server.server_close()

    flushed = hindsight.close(timeout=args.exit_timeout)
    stats = hindsight.stats()
    lost = stats["logged"] - stats["accepted"] - stats["duplicates"]
    if flushed and lost == 0:
        _LOG.info("stopped; hindsight stored all %d records %s", stats["logged"], json.dumps(stats))
    else:
        _LOG.warning("stopped; hindsight did not store %d of %d records %s", lost, stats["logged"], json.dumps(stats))
    return 0


if __name__ == "__main__":
    sys.exit(main())
