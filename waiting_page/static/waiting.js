// Polls the ticket status and continues the login when served.
(function () {
  "use strict";
  var body = document.body;
  var statusUrl = body.getAttribute("data-status-url");
  var continueUrl = body.getAttribute("data-continue-url");
  function poll() {
    fetch(statusUrl, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.json(); })
      .then(function (t) {
        if (t.served) { window.location.replace(continueUrl); return; }
        if (t.state !== "waiting") { window.location.replace(continueUrl); return; }
        var p = document.getElementById("position");
        var a = document.getElementById("ahead");
        if (p) { p.textContent = t.position; }
        if (a) { a.textContent = t.ahead; }
        setTimeout(poll, 2000 + Math.random() * 1000);
      })
      .catch(function () { setTimeout(poll, 5000); });
  }
  setTimeout(poll, 1000);
})();
