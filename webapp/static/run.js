// The run page, live: it polls the run's `live` URL with the last event counter it has
// (?after=N) and waits as long as each answer's next_poll_ms says (null: the run is over).
// Every request is short, so open run pages never hold a server thread. Everything from the
// server is inserted as text (never as HTML).
(function () {
  "use strict";
  var log = document.getElementById("log");
  if (!log) { return; }
  var after = Number(log.dataset.after) || 0;
  var RETRY_MS = 5000;
  var byId = function (id) { return document.getElementById(id); };
  var elapsed = null; // {seconds, at}: the server's duration and when it arrived, for the ticking clock
  var clock = null;

  function nearBottom() { return log.scrollHeight - log.scrollTop - log.clientHeight < 40; }

  // Same formats as the page's macros: "2026-01-02 03:04:05" (UTC) and "12.3 s" / "4 min 5 s".
  function formatWhen(iso) {
    if (!iso) { return "—"; }
    var time = document.createElement("time");
    time.dateTime = iso;
    time.textContent = iso.slice(0, 19).replace("T", " ");
    return time;
  }
  function formatDuration(seconds) {
    if (seconds === null || seconds === undefined) { return "—"; }
    if (seconds < 60) { return seconds.toFixed(1) + " s"; }
    return Math.floor(seconds / 60) + " min " + Math.floor(seconds % 60) + " s";
  }
  function setWhen(id, iso) { byId(id).replaceChildren(formatWhen(iso)); }

  function tick() {
    if (elapsed) { byId("run-duration").textContent = formatDuration(elapsed.seconds + (Date.now() - elapsed.at) / 1000); }
  }

  function appendEvent(ev) {
    if (!ev.stdout) { return; }
    var span = document.createElement("span");
    span.id = "ev-" + ev.counter;
    if (ev.failed) { span.className = "ev-failed"; } else if (ev.changed) { span.className = "ev-changed"; }
    span.textContent = ev.stdout + "\n";
    log.appendChild(span);
  }

  function drawRecap(recap) {
    if (!recap) { return; }
    var cols = ["ok", "changed", "failed", "unreachable", "skipped", "rescued", "ignored"];
    var table = document.createElement("table");
    table.className = "grid recap";
    var head = table.createTHead().insertRow();
    ["Host"].concat(cols).forEach(function (c) { var th = document.createElement("th"); th.textContent = c; head.appendChild(th); });
    var body = table.createTBody();
    Object.keys(recap).sort().forEach(function (host) {
      var s = recap[host], row = body.insertRow();
      row.className = (s.failed || s.unreachable) ? "bad" : "good";
      row.insertCell().textContent = host;
      cols.forEach(function (c) { row.insertCell().textContent = s[c] || 0; });
    });
    byId("recap").replaceChildren(table);
  }

  function drawFailure(failure) {
    var box = byId("run-failure");
    if (!failure) { box.hidden = true; return; }
    byId("failure-host").textContent = failure.host || "—";
    byId("failure-task").textContent = failure.task || "—";
    byId("failure-message").textContent = failure.message;
    byId("failure-link").href = "#ev-" + failure.counter;
    box.hidden = false;
  }

  function drawRun(run) {
    var badge = document.createElement("span");
    badge.className = "badge s-" + run.status;
    badge.textContent = run.status;
    byId("run-status").replaceChildren(badge);
    byId("run-rc").textContent = (run.rc === null || run.rc === undefined) ? "—" : run.rc;
    byId("run-reason").textContent = run.failure_reason || "";
    setWhen("run-started", run.started_at);
    setWhen("run-finished", run.finished_at);
    byId("run-duration-label").textContent = run.finished ? "Duration" : "Elapsed";
    byId("run-duration").textContent = formatDuration(run.duration_seconds);
    elapsed = (run.started_at && !run.finished) ? {seconds: run.duration_seconds, at: Date.now()} : null;
    if (elapsed && !clock) { clock = window.setInterval(tick, 1000); }
    if (!elapsed && clock) { window.clearInterval(clock); clock = null; }
    byId("cancel-form").hidden = run.finished;
    byId("retry-form").hidden = !run.finished;
    byId("live-indicator").textContent = run.finished ? "" : "live";
    log.dataset.finished = run.finished ? "true" : "false";
    drawFailure(run.failure);
    if (run.finished) { drawRecap(run.recap); }
  }

  function poll() {
    fetch(log.dataset.live + "?after=" + after, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      })
      .then(function (answer) {
        var stick = nearBottom();
        answer.events.forEach(appendEvent);
        if (stick) { log.scrollTop = log.scrollHeight; }
        after = answer.after;
        drawRun(answer.run);
        if (answer.next_poll_ms !== null) { window.setTimeout(poll, answer.next_poll_ms); }
      })
      .catch(function () { window.setTimeout(poll, RETRY_MS); });
  }

  poll();
})();
