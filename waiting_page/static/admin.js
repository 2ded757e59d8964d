// The operator dashboard: refreshes the rooms table or a room's charts and
// counters, and sends the controls (each with the page's CSRF token).
(function () {
  "use strict";
  var body = document.body;
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.getAttribute("content") : "";
  var REFRESH_MS = 2000;

  function call(method, url, data) {
    var options = {method: method, credentials: "same-origin",
                   headers: {"Accept": "application/json", "X-CSRF-Token": csrf}};
    if (data !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(data);
    }
    return fetch(url, options).then(function (response) {
      if (response.status === 401) { window.location.assign(window.location.pathname); }
      return response.json().then(function (json) {
        if (!response.ok) throw new Error(json.error_description || json.error || response.status);
        return json;
      });
    });
  }

  function cell(row, text, cls) {
    var td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    row.appendChild(td);
    return td;
  }

  function estimateText(room) {
    var e = room.estimated_wait_for_newcomer;
    return e ? e.seconds + " s" : (room.estimate_unavailable || "–").replace(/_/g, " ");
  }

  function refreshOverview() {
    call("GET", body.getAttribute("data-source")).then(function (data) {
      var tbody = document.getElementById("rooms");
      while (tbody.firstChild) tbody.removeChild(tbody.firstChild);
      data.rooms.forEach(function (r) {
        var row = document.createElement("tr");
        row.setAttribute("data-room", r.room);
        var link = document.createElement("a");
        link.href = window.location.pathname.replace(/\/$/, "") + "/ui/rooms/" + encodeURIComponent(r.room);
        link.textContent = r.room;
        cell(row, "").appendChild(link);
        var mode = document.createElement("span");
        mode.className = "mode mode-" + r.mode;
        mode.textContent = r.mode;
        cell(row, "").appendChild(mode);
        [r.waiting, r.active, r.served_total, r.abandoned_total, r.expired_total,
         r.admit_per_minute, r.max_active || "none", estimateText(r)].forEach(function (v) {
          cell(row, String(v));
        });
        tbody.appendChild(row);
      });
    }).catch(function () {});
  }

  var message = document.getElementById("message");
  function say(text, bad) {
    if (!message) return;
    message.textContent = text;
    message.className = bad ? "message bad" : "message";
  }

  function counters(room, charts) {
    var dl = document.getElementById("counters");
    var waits = charts.served_waits;
    var items = [
      ["Waiting", room.waiting], ["Active", room.active + (room.max_active ? " / " + room.max_active : "")],
      ["Served", room.served_total], ["Claimed", room.admitted_total],
      ["Abandoned", room.abandoned_total], ["Expired", room.expired_total],
      ["Rate", room.admit_per_minute + " /min" + (room.measured_admit_per_minute === null ? "" :
        " (measured " + room.measured_admit_per_minute + ")")],
      ["Newcomer's wait", estimateText(room)],
      ["Served waits p50 / p90", waits.samples ? waits.p50_seconds + " s / " + waits.p90_seconds + " s" : "–"]
    ];
    while (dl.firstChild) dl.removeChild(dl.firstChild);
    items.forEach(function (item) {
      var div = document.createElement("div");
      var dt = document.createElement("dt"), dd = document.createElement("dd");
      dt.textContent = item[0];
      dd.textContent = String(item[1]);
      div.appendChild(dt);
      div.appendChild(dd);
      dl.appendChild(div);
    });
    var mode = document.getElementById("mode");
    mode.textContent = room.mode;
    mode.className = "mode mode-" + room.mode;
  }

  var CHARTS = [
    ["chart-waiting", ["waiting"]],
    ["chart-arrivals", ["arrivals_per_minute"]],
    ["chart-admissions", ["admissions_per_minute"]],
    ["chart-active", ["active"]],
    ["chart-lost", ["abandoned_per_minute", "expired_per_minute"]],
    ["chart-estimate", ["newcomer_wait_seconds"]],
    ["chart-waits", ["wait_p50_seconds", "wait_p90_seconds"]]
  ];
  var settingsShown = false;

  function refreshRoom() {
    call("GET", body.getAttribute("data-source")).then(function (data) {
      var charts = data.charts;
      counters(data.room, charts);
      CHARTS.forEach(function (chart) {
        var lines = chart[1].map(function (name, i) {
          return {values: charts.series[name], cls: i ? "b" : "a"};
        });
        window.WrCharts.draw(document.getElementById(chart[0]), lines, charts.bucket_seconds);
      });
      if (!settingsShown) {
        document.getElementById("rate").value = data.room.admit_per_minute;
        document.getElementById("cap").value = data.room.max_active;
        settingsShown = true;
      }
      var schedule = data.room.schedule;
      document.getElementById("schedule").textContent =
        schedule ? JSON.stringify(schedule, null, 2) : "No schedule.";
    }).catch(function (error) { say("Could not refresh: " + error.message, true); });
  }

  var pending = null;
  var confirmBox = document.getElementById("confirm");
  function ask(text, action) {
    pending = action;
    document.getElementById("confirm-text").textContent = text;
    confirmBox.hidden = false;
    document.getElementById("confirm-yes").focus();
  }

  function act(path, data, done) {
    var url = body.getAttribute("data-actions") + "/" + path;
    return call("POST", url, data).then(function (json) {
      say(done(json));
      refreshRoom();
    }).catch(function (error) { say(error.message, true); });
  }

  function wait(e) {
    return e ? e.seconds + " s (" + e.low + "–" + e.high + " s)" : "no estimate";
  }

  function setupRoom() {
    document.getElementById("confirm-yes").addEventListener("click", function () {
      confirmBox.hidden = true;
      if (pending) pending();
      pending = null;
    });
    document.getElementById("confirm-no").addEventListener("click", function () {
      confirmBox.hidden = true;
      pending = null;
      say("Nothing changed.");
    });
    document.querySelectorAll("button[data-action]").forEach(function (button) {
      button.addEventListener("click", function () {
        var action = button.getAttribute("data-action");
        var run = function () {
          act(action, undefined, function (room) { return "Room is now " + room.mode + "."; });
        };
        var question = button.getAttribute("data-confirm");
        if (question) ask(question, run); else run();
      });
    });
    document.getElementById("settings-form").addEventListener("submit", function (event) {
      event.preventDefault();
      var proposed = {admit_per_minute: Number(document.getElementById("rate").value),
                      max_active: Number(document.getElementById("cap").value)};
      var preview = body.getAttribute("data-actions") + "/preview";
      call("POST", preview, proposed).then(function (p) {
        ask("Set " + proposed.admit_per_minute + " per minute, cap " + (proposed.max_active || "none") +
            "? A newcomer's wait goes from " + wait(p.current) + " to " +
            (p.proposed ? wait(p.proposed) : (p.unavailable || "no estimate")) + ".",
          function () {
            act("settings", proposed, function (room) {
              return "Now " + room.admit_per_minute + " per minute, cap " + (room.max_active || "none") + ".";
            });
          });
      }).catch(function (error) { say(error.message, true); });
    });
    document.getElementById("admit-form").addEventListener("submit", function (event) {
      event.preventDefault();
      var count = Number(document.getElementById("admit-count").value);
      act("admit", {count: count}, function (json) { return "Admitted " + json.admitted + " of " + json.requested + "."; });
    });
    document.getElementById("revoke-form").addEventListener("submit", function (event) {
      event.preventDefault();
      var ticket = document.getElementById("revoke-ticket").value.trim();
      ask("Revoke ticket " + ticket + "? Its holder loses the place or the session.", function () {
        act("revoke", {ticket: ticket}, function (json) { return "Ticket is now " + json.state + "."; });
      });
    });
    refreshRoom();
    window.setInterval(refreshRoom, REFRESH_MS);
  }

  if (body.getAttribute("data-page") === "room") {
    setupRoom();
  } else if (body.getAttribute("data-page") === "overview") {
    window.setInterval(refreshOverview, REFRESH_MS * 2.5);
  }
}());
