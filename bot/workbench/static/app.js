// 邻里工作台: the little that needs JavaScript — a broadcast's live delivery report, a ticket page
// telling when the ticket changed, filters applied as soon as they change. Everything works without it.
(function () {
  "use strict";

  function poll(url, every, handle) {
    var timer = null;
    function tick() {
      fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) { if (data && handle(data) !== false) { timer = setTimeout(tick, every); } })
        .catch(function () { timer = setTimeout(tick, every * 3); });
    }
    timer = setTimeout(tick, every);
  }

  function text(id, value) { var el = document.getElementById(id); if (el) { el.textContent = value; } }

  document.addEventListener("DOMContentLoaded", function () {
    var report = document.getElementById("report");
    if (report && report.dataset.running === "yes") {
      poll(report.dataset.url, parseInt(report.dataset.poll, 10) || 1000, function (p) {
        var bar = document.getElementById("bar");
        bar.max = p.total || 1; bar.value = p.finished;
        text("finished", p.finished); text("total", p.total); text("b-status", p.status_label);
        text("sent", p.counts.sent || 0); text("failed", p.counts.failed || 0); text("skipped", p.counts.skipped || 0);
        var lines = document.getElementById("lines");
        lines.innerHTML = "";
        p.lines.forEach(function (line) { var li = document.createElement("li"); li.textContent = line; lines.appendChild(li); });
        if (!p.running) {
          report.dataset.running = "no";
          var cancel = document.getElementById("cancel");
          if (cancel) { cancel.hidden = true; }
          return false;
        }
      });
    }

    var live = document.getElementById("live");
    if (live) {
      poll(live.dataset.url, 4000, function (s) {
        if (s.state !== live.dataset.state) { live.hidden = false; return false; }
      });
    }

    var filters = document.getElementById("filters");
    if (filters) {
      filters.querySelectorAll("select").forEach(function (select) {
        select.addEventListener("change", function () { filters.submit(); });
      });
    }
  });
})();
