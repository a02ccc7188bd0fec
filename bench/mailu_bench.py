"""Benchmark: bulk creation of mailboxes through MailuClient against the Mailu API double.

The double (not a real Mailu) runs on a loopback port in this process with one registered server.
Measured, as the median of --runs runs: the time to create --mailboxes mailboxes in one
``create_users`` call (one POST per mailbox, generated passwords). The figure covers the client
and HTTP round trips on loopback, not Mailu's own work.

    .venv/bin/python bench/mailu_bench.py [--mailboxes 10] [--runs 5]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from werkzeug.serving import make_server  # noqa: E402

from mailfleet.mailu import MailuClient  # noqa: E402
from testbed.doubles.mailu import MailuDoubleState, create_app  # noqa: E402

HOST, TOKEN = "mail.bench.test", "bench-token-0123456789abcdef"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mailboxes", type=int, default=10)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log line per request
    with tempfile.TemporaryDirectory() as work:
        state = MailuDoubleState(Path(work) / "mailu-double.json")
        state.register(HOST, {"api_token": TOKEN, "domain": "bench.test", "hostnames": [HOST]})
        server = make_server("127.0.0.1", 0, create_app(state=state), threaded=True)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        try:
            url = f"http://127.0.0.1:{server.server_port}/{HOST}/api/v1"
            timings = []
            with MailuClient(url, TOKEN, timeout=(2, 10)) as client:
                client.create_domain("bench.test")
                for run in range(args.runs):
                    users = [{"email": f"r{run}u{i}@bench.test"} for i in range(args.mailboxes)]
                    started = time.perf_counter()
                    result = client.create_users(users)
                    timings.append(time.perf_counter() - started)
                    if not result.ok:
                        raise SystemExit(f"bulk create failed: {result}")
        finally:
            server.shutdown()
    print(
        f"create_users of {args.mailboxes} mailboxes against the double: "
        f"median {statistics.median(timings) * 1000:.0f} ms over {args.runs} runs "
        f"(min {min(timings) * 1000:.0f} ms, max {max(timings) * 1000:.0f} ms)"
    )


if __name__ == "__main__":
    main()
