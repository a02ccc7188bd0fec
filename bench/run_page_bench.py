"""Live run pages against the web server's threads, printed beside their goals.

    .venv/bin/python bench/run_page_bench.py [--pages 64] [--threads 16] [--seconds 20]

The app is served by waitress with --threads as in the Procfile; a running run gets a new event
every 100 ms while --pages clients poll its live answers the way webapp/static/run.js does (the
?after cursor, waiting next_poll_ms). Meanwhile another client loads the login page once a second.
Figures: that page's response time, the live answers' response time, and how long a new line takes
to reach a page (insert to receipt). Loopback, fresh database in a temporary directory.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import logging
import re
import statistics
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

from mailfleet.clock import utcnow
from webapp.extensions import db
from webapp.models import Role, RunEvent, RunStatus
from webapp.services import accounts, runs, tenants
from webapp.services.scope import Scope
from webapp.testing import TEST_PASSWORD, make_app

ADMIN = "bench@example.com"


def session(base: str) -> urllib.request.OpenerDirector:
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    page = opener.open(f"{base}/login").read().decode()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"email": ADMIN, "password": TEST_PASSWORD, "csrf_token": token})
    opener.open(f"{base}/login", data=form.encode()).read()
    return opener


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=64)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    from waitress import create_server

    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # a short queue is the point here

    with tempfile.TemporaryDirectory() as tmp:
        app = make_app(Path(tmp), SESSION_COOKIE_SECURE=False, REMEMBER_COOKIE_SECURE=False)
        with app.app_context():
            admin = accounts.create_user(ADMIN, TEST_PASSWORD, Role.ADMIN, None)
            scope = Scope(admin)
            run = runs.submit_run(scope, tenants.create_tenant(scope, "bench", "Bench"), "site")
            run.status, run.started_at = RunStatus.RUNNING, utcnow()
            db.session.commit()
            run_id = run.id
            db.session.remove()
        server = create_server(app, host="127.0.0.1", port=0, threads=args.threads)
        threading.Thread(target=server.run, daemon=True).start()
        base = f"http://127.0.0.1:{server.effective_port}"
        openers = [session(base) for _ in range(args.pages + 1)]
        inserted: dict[int, float] = {}
        poll_times: list[float] = []
        lags: list[float] = []
        other_times: list[float] = []
        stop = threading.Event()

        def writer() -> None:
            counter = 0
            with app.app_context():
                while not stop.is_set():
                    counter += 1
                    inserted[counter] = time.monotonic()
                    db.session.add(
                        RunEvent(run_id=run_id, counter=counter, event="runner_on_ok", stdout="ok")
                    )
                    db.session.commit()
                    time.sleep(0.1)
                db.session.remove()

        def page(opener: urllib.request.OpenerDirector) -> None:
            after = 0
            while not stop.is_set():
                started = time.monotonic()
                answer = json.load(opener.open(f"{base}/runs/{run_id}/live?after={after}"))
                received = time.monotonic()
                poll_times.append(received - started)
                lags.extend(
                    received - inserted[e["counter"]] for e in answer["events"] if e["counter"] in inserted
                )
                after = answer["after"]
                time.sleep((answer["next_poll_ms"] or 1000) / 1000)

        workers = [threading.Thread(target=writer)] + [
            threading.Thread(target=page, args=(o,)) for o in openers[1:]
        ]
        for worker in workers:
            worker.start()
        deadline = time.monotonic() + args.seconds
        while time.monotonic() < deadline:
            started = time.monotonic()
            openers[0].open(f"{base}/login").read()
            other_times.append(time.monotonic() - started)
            time.sleep(1)
        stop.set()
        for worker in workers:
            worker.join()
        server.close()
        with app.app_context():
            db.engine.dispose()

    ms = 1000
    print(
        f"{args.pages} live pages, waitress --threads={args.threads}, "
        f"{args.seconds:.0f} s, a line every 100 ms"
    )
    print(
        f"  another page (/login): median {statistics.median(other_times) * ms:.0f} ms, "
        f"max {max(other_times) * ms:.0f} ms  (goal: answers; median < 500 ms)"
    )
    print(
        f"  live answers: {len(poll_times)}, median {statistics.median(poll_times) * ms:.0f} ms, "
        f"p95 {percentile(poll_times, 0.95) * ms:.0f} ms"
    )
    print(
        f"  new line reaches a page: median {statistics.median(lags) * ms:.0f} ms, "
        f"p95 {percentile(lags, 0.95) * ms:.0f} ms  (goal: p95 < 2000 ms)"
    )


if __name__ == "__main__":
    main()
