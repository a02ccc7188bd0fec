// Live output of a run: server-sent events append lines, update the status and draw the recap.
// Everything from the server is inserted as text (never as HTML).
(function () {
  "use strict";
  var log = document.getElementById("log");
  if (!log || log.dataset.finished === "true") { return; }
  var statusCell = document.getElementById("run-status");
  var rcCell = document.getElementById("run-rc");
  var reason = document.getElementById("run-reason");
  var indicator = document.getElementById("live-indicator");
  var source = new EventSource(log.dataset.stream);

  function nearBottom() { return log.scrollHeight - log.scrollTop - log.clientHeight < 40; }

  function setStatus(data) {
    var badge = document.createElement("span");
    badge.className = "badge s-" + data.status;
    badge.textContent = data.status;
    statusCell.replaceChildren(badge);
    if (data.rc !== null && data.rc !== undefined) { rcCell.textContent = data.rc; }
    if (data.reason) { reason.textContent = data.reason; }
  }

  function drawRecap(recap) {
    var box = document.getElementById("recap");
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
    box.replaceChildren(table);
  }

  source.addEventListener("line", function (msg) {
    var ev = JSON.parse(msg.data);
    if (!ev.stdout) { return; }
    var stick = nearBottom();
    var span = document.createElement("span");
    if (ev.failed) { span.className = "ev-failed"; } else if (ev.changed) { span.className = "ev-changed"; }
    span.textContent = ev.stdout + "\n";
    log.appendChild(span);
    if (stick) { log.scrollTop = log.scrollHeight; }
  });
  source.addEventListener("status", function (msg) { setStatus(JSON.parse(msg.data)); });
  source.addEventListener("done", function (msg) {
    var data = JSON.parse(msg.data);
    setStatus(data);
    drawRecap(data.recap);
    indicator.textContent = "";
    log.dataset.finished = "true";
    source.close();
    var cancel = document.getElementById("cancel-form");
    if (cancel) { cancel.remove(); }
  });
})();
