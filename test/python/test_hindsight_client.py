"""Tests of client/python/hindsight_client.py (unittest, standard library only).

`test/integration/python-client.test.ts` runs this file against a real `hindsight serve`
(HINDSIGHT_TEST_URL, HINDSIGHT_TEST_TOKEN, HINDSIGHT_TEST_MODEL) and then checks in
PostgreSQL the rows listed in the manifest this file writes to HINDSIGHT_TEST_MANIFEST.
The other cases talk to a small local http.server that answers as each case scripts.
"""

from __future__ import annotations

import gzip
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
import unittest
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLIENT_DIR = ROOT / "client" / "python"
sys.path.insert(0, str(CLIENT_DIR))

from hindsight_client import HindsightClient  # noqa: E402


def wait_until(check, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


class ScriptedServer:
    """An http.server on a free loopback port that records each request and answers with
    the next scripted (status, document), then 200 with every line accepted; `stall` makes
    it hold every request without answering until the server is stopped."""

    def __init__(self, script=(), stall=False):
        self.script = list(script)
        self.requests = []
        self.stall = stall
        self.released = threading.Event()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                body = gzip.decompress(raw) if self.headers.get("Content-Encoding") == "gzip" else raw
                lines = [json.loads(line) for line in body.decode("utf-8").splitlines() if line.strip()]
                outer.requests.append({"path": self.path, "headers": dict(self.headers), "raw": raw, "lines": lines})
                if outer.stall:
                    outer.released.wait(30)
                    return
                status, document = outer.script.pop(0) if outer.script else (200, None)
                if document is None:
                    document = {"accepted": len(lines), "duplicates": 0, "conflicts": 0, "rejected": []}
                payload = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def lines(self):
        return [line for request in self.requests for line in request["lines"]]

    def stop(self):
        self.released.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def prediction(score=0.5, **fields):
    return {"model_name": "local", "model_version": "1", "score": score, **fields}


class Errors(list):
    """An on_error that keeps (message, status, kind, number of records)."""

    def __call__(self, error, kind, records):
        self.append((str(error), error.status, kind, len(records)))


class RetryTest(unittest.TestCase):
    def setUp(self):
        self.errors = Errors()

    def client(self, server, **options):
        defaults = dict(batch_size=100, flush_interval=60, backoff=0.01, max_backoff=0.05,
                        flush_at_exit=False, on_error=self.errors)
        client = HindsightClient(server.url, **{**defaults, **options})
        self.addCleanup(client.close, 5)
        return client

    def test_retries_a_batch_answered_503_and_sends_it_the_same_each_time(self):
        server = ScriptedServer([(503, {"error": "database unreachable"})] * 2)
        self.addCleanup(server.stop)
        client = self.client(server)
        ids = [client.log_prediction(prediction(score=i / 10)) for i in range(4)]
        self.assertTrue(client.flush(5))
        self.assertEqual(len(server.requests), 3)
        self.assertEqual(len({request["raw"] for request in server.requests}), 1)
        self.assertEqual([line["prediction_id"] for line in server.requests[-1]["lines"]], ids)
        self.assertEqual(client.stats(), {"logged": 4, "sent": 4, "accepted": 4, "duplicates": 0, "conflicts": 0,
                                          "rejected": 0, "dropped": 0, "failed": 0, "queued": 0})
        self.assertEqual(self.errors, [])

    def test_gives_up_after_max_attempts_and_reports_the_batch(self):
        server = ScriptedServer([(503, {"error": "database unreachable"})] * 10)
        self.addCleanup(server.stop)
        client = self.client(server, max_attempts=3)
        client.log_prediction(prediction())
        client.log_prediction(prediction())
        self.assertTrue(client.flush(5))
        self.assertEqual(len(server.requests), 3)
        self.assertEqual(client.stats()["failed"], 2)
        self.assertEqual(client.stats()["sent"], 0)
        self.assertEqual(self.errors, [("hindsight answered 503: database unreachable", 503, "predictions", 2)])

    def test_does_not_retry_a_4xx_and_reports_the_servers_error(self):
        server = ScriptedServer([(415, {"error": "Content-Type must be application/json or application/x-ndjson"})])
        self.addCleanup(server.stop)
        client = self.client(server)
        client.log_prediction(prediction())
        self.assertTrue(client.flush(5))
        self.assertEqual(len(server.requests), 1)
        self.assertEqual(client.stats()["failed"], 1)
        self.assertEqual(self.errors, [("hindsight answered 415: Content-Type must be application/json or application/x-ndjson", 415, "predictions", 1)])

    def test_retries_429_like_5xx(self):
        server = ScriptedServer([(429, {"error": "slow down"})])
        self.addCleanup(server.stop)
        client = self.client(server)
        client.log_prediction(prediction())
        self.assertTrue(client.flush(5))
        self.assertEqual(len(server.requests), 2)
        self.assertEqual(client.stats()["sent"], 1)

    def test_retries_when_the_connection_is_refused(self):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        client = HindsightClient(f"http://127.0.0.1:{port}", max_attempts=3, backoff=0.01, max_backoff=0.02,
                                 flush_interval=60, flush_at_exit=False, on_error=self.errors)
        self.addCleanup(client.close, 5)
        client.log_prediction(prediction())
        self.assertTrue(client.flush(5))
        self.assertEqual(client.stats()["failed"], 1)
        self.assertEqual(len(self.errors), 1)
        self.assertRegex(self.errors[0][0], r"could not reach hindsight at http://127\.0\.0\.1:\d+/v1/predictions")
        self.assertIsNone(self.errors[0][1])


class BatchingTest(unittest.TestCase):
    def setUp(self):
        self.server = ScriptedServer()
        self.addCleanup(self.server.stop)

    def test_sends_a_batch_as_soon_as_it_is_full(self):
        client = HindsightClient(self.server.url, batch_size=3, flush_interval=60, flush_at_exit=False)
        self.addCleanup(client.close, 5)
        for i in range(7):
            client.log_prediction(prediction(score=i / 10))
        wait_until(lambda: len(self.server.requests) == 2)
        time.sleep(0.2)
        self.assertEqual([len(r["lines"]) for r in self.server.requests], [3, 3])
        self.assertEqual(client.stats()["queued"], 1)
        self.assertTrue(client.close(5))
        self.assertEqual([len(r["lines"]) for r in self.server.requests], [3, 3, 1])
        self.assertEqual([line["score"] for line in self.server.lines()], [i / 10 for i in range(7)])

    def test_sends_on_its_interval_without_a_full_batch(self):
        client = HindsightClient(self.server.url, batch_size=100, flush_interval=0.05, flush_at_exit=False)
        self.addCleanup(client.close, 5)
        client.log_prediction(prediction())
        wait_until(lambda: len(self.server.requests) == 1)

    def test_each_kind_goes_to_its_endpoint_as_ndjson_with_the_token_and_optional_gzip(self):
        client = HindsightClient(self.server.url, token="s3cret", gzip=True, flush_interval=60, flush_at_exit=False)
        self.addCleanup(client.close, 5)
        prediction_id = client.log_prediction(prediction())
        outcome_id = client.log_outcome({"prediction_id": prediction_id, "outcome_type": "chargeback"})
        client.log_action({"prediction_id": prediction_id, "action": "review"})
        self.assertTrue(client.flush(5))
        self.assertEqual([r["path"] for r in self.server.requests], ["/v1/predictions", "/v1/outcomes", "/v1/actions"])
        for request in self.server.requests:
            self.assertEqual(request["headers"]["Authorization"], "Bearer s3cret")
            self.assertEqual(request["headers"]["Content-Type"], "application/x-ndjson")
            self.assertEqual(request["headers"]["Content-Encoding"], "gzip")
        predicted, outcome, action = (r["lines"][0] for r in self.server.requests)
        self.assertEqual(uuid.UUID(prediction_id).version, 4)
        self.assertRegex(predicted["ts_pred"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
        self.assertEqual(outcome["outcome_id"], outcome_id)
        self.assertIn("ts_event", outcome)
        self.assertEqual(action["prediction_id"], prediction_id)
        self.assertIn("ts_action", action)

    def test_flushes_what_is_queued_when_the_process_exits(self):
        script = (
            "import sys; sys.path.insert(0, sys.argv[1]);"
            "from hindsight_client import HindsightClient;"
            "client = HindsightClient(sys.argv[2], batch_size=100, flush_interval=60);"
            "[client.log_prediction({'model_name': 'exit', 'model_version': '1', 'score': i / 4}) for i in range(3)];"
            "print(client.stats()['queued'])"
        )
        done = subprocess.run([sys.executable, "-c", script, str(CLIENT_DIR), self.server.url],
                              capture_output=True, text=True, timeout=30)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(done.stdout.strip(), "3")
        self.assertEqual([line["score"] for line in self.server.lines()], [0, 0.25, 0.5])


class NeverBlocksTest(unittest.TestCase):
    def setUp(self):
        self.server = ScriptedServer(stall=True)
        self.addCleanup(self.server.stop)
        self.errors = Errors()

    def test_log_returns_at_once_while_the_server_does_not_answer(self):
        client = HindsightClient(self.server.url, batch_size=1, flush_interval=60, request_timeout=10,
                                 flush_at_exit=False, on_error=self.errors)
        self.addCleanup(client.close, 0)
        client.log_prediction(prediction())
        wait_until(lambda: len(self.server.requests) == 1)
        slowest = 0.0
        for _ in range(200):
            started = time.perf_counter()
            client.log_prediction(prediction())
            slowest = max(slowest, time.perf_counter() - started)
        # The client's thread is inside a request that will not be answered for seconds;
        # every log() still only appended to the queue.
        self.assertLess(slowest, 0.1)
        self.assertEqual(client.stats()["queued"], 200)
        self.assertFalse(client.flush(0.2))

    def test_drops_and_counts_when_the_queue_is_full(self):
        client = HindsightClient(self.server.url, batch_size=1, max_queue_size=5, flush_interval=60,
                                 request_timeout=10, flush_at_exit=False, on_error=self.errors)
        self.addCleanup(client.close, 0)
        client.log_prediction(prediction())
        wait_until(lambda: len(self.server.requests) == 1)
        for _ in range(8):
            client.log_prediction(prediction())
        stats = client.stats()
        self.assertEqual((stats["logged"], stats["queued"], stats["dropped"]), (9, 5, 3))
        self.assertEqual(self.errors, [("queue holds 5 records; record dropped", None, "predictions", 1)] * 3)

    def test_a_record_that_is_not_json_is_refused_in_log_not_raised(self):
        client = HindsightClient(self.server.url, flush_interval=60, flush_at_exit=False, on_error=self.errors)
        self.addCleanup(client.close, 0)
        client.log_prediction(prediction(score=float("nan")))
        client.log_prediction(prediction(features={"tags": {"a"}}))
        self.assertEqual(client.stats()["rejected"], 2)
        self.assertEqual(client.stats()["queued"], 0)
        self.assertRegex(self.errors[0][0], "cannot be written as JSON: Out of range float values")
        self.assertRegex(self.errors[1][0], "cannot be written as JSON: set is not JSON")

    def test_a_closed_client_drops_what_it_is_given(self):
        client = HindsightClient(self.server.url, flush_interval=60, flush_at_exit=False, on_error=self.errors)
        self.assertTrue(client.close(1))
        client.log_prediction(prediction())
        self.assertEqual(client.stats()["dropped"], 1)
        self.assertEqual(self.errors[0][0], "client is closed; record not sent")


@unittest.skipUnless(os.environ.get("HINDSIGHT_TEST_URL"), "runs from test/integration/python-client.test.ts")
class RealServerTest(unittest.TestCase):
    """Against the real `hindsight serve` the vitest test started; it checks the rows."""

    @classmethod
    def setUpClass(cls):
        cls.url = os.environ["HINDSIGHT_TEST_URL"]
        cls.token = os.environ["HINDSIGHT_TEST_TOKEN"]
        cls.model = os.environ["HINDSIGHT_TEST_MODEL"]
        cls.manifest = {"predictions": [], "outcomes": [], "actions": []}

    @classmethod
    def tearDownClass(cls):
        Path(os.environ["HINDSIGHT_TEST_MANIFEST"]).write_text(json.dumps(cls.manifest))

    def test_01_predictions_outcomes_and_actions_are_stored(self):
        errors = Errors()
        client = HindsightClient(self.url, token=self.token, batch_size=10, gzip=True, flush_interval=60,
                                 flush_at_exit=False, on_error=errors)
        for i in range(25):
            record = {"model_name": self.model, "model_version": "2.0", "score": (i + 0.5) / 25,
                      "ts_pred": f"2026-11-01T10:{i:02d}:00+01:00", "entity_ids": {"transaction_id": f"tx-{i}"},
                      "region": "eu" if i % 2 else "us", "segment": {"device": "ios"}, "threshold": 0.4}
            record["prediction_id"] = client.log_prediction(record)
            self.manifest["predictions"].append(record)
        for record in self.manifest["predictions"][:6]:
            outcome = {"prediction_id": record["prediction_id"], "outcome_type": "chargeback", "value": 12.5,
                       "ts_event": "2026-11-20T00:00:00Z"}
            outcome["outcome_id"] = client.log_outcome(outcome)
            self.manifest["outcomes"].append(outcome)
        for record in self.manifest["predictions"][:4]:
            action = {"prediction_id": record["prediction_id"], "action": "review", "ts_action": "2026-11-01T12:00:00Z",
                      "policy": "threshold-0.4", "propensity": 0.9}
            client.log_action(action)
            self.manifest["actions"].append(action)
        self.assertTrue(client.close(10))
        self.assertEqual(errors, [])
        self.assertEqual(client.stats(), {"logged": 35, "sent": 35, "accepted": 35, "duplicates": 0, "conflicts": 0,
                                          "rejected": 0, "dropped": 0, "failed": 0, "queued": 0})

    def test_02_a_resent_batch_is_a_duplicate_not_a_second_row(self):
        client = HindsightClient(self.url, token=self.token, flush_interval=60, flush_at_exit=False)
        for record in self.manifest["predictions"][:3]:
            client.log_prediction(record)
        self.assertTrue(client.close(10))
        self.assertEqual((client.stats()["accepted"], client.stats()["duplicates"]), (0, 3))

    def test_03_records_the_server_rejects_are_reported_with_its_reasons(self):
        errors = Errors()
        client = HindsightClient(self.url, token=self.token, flush_interval=60, flush_at_exit=False, on_error=errors)
        client.log_prediction({"model_name": self.model, "model_version": "2.0", "score": 0.5, "propensity": 1.5})
        self.assertTrue(client.close(10))
        self.assertEqual(client.stats()["rejected"], 1)
        self.assertEqual(len(errors), 1)
        self.assertRegex(errors[0][0], r"hindsight rejected 1 predictions: #1 propensity: ")
        self.assertEqual(errors[0][3], 1)

    def test_04_a_wrong_token_is_401_reported_once_and_not_retried(self):
        errors = Errors()
        client = HindsightClient(self.url, token="not-the-token-at-all", flush_interval=60, backoff=0.01,
                                 flush_at_exit=False, on_error=errors)
        client.log_prediction({"model_name": self.model, "model_version": "2.0", "score": 0.5})
        self.assertTrue(client.close(10))
        self.assertEqual(client.stats()["failed"], 1)
        self.assertEqual(len(errors), 1)
        self.assertRegex(errors[0][0], r"^hindsight answered 401: .*not valid")


if __name__ == "__main__":
    unittest.main(verbosity=2)
