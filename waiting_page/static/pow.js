// The proof-of-work step: a Web Worker searches for the counter (so the page
// stays responsive), the bar shows the chance that it has been found by now,
// and the solution goes back to /authorize with the login request, which then
// takes the ticket.
(() => {
  "use strict";
  const cfg = JSON.parse(document.body.getAttribute("data-pow"));
  const $ = (id) => document.getElementById(id);
  const bar = $("pow-bar");
  const expected = Math.pow(2, cfg.bits);
  const started = performance.now();
  $("pow").hidden = false;
  const worker = new Worker(cfg.worker);
  worker.onmessage = (event) => {
    const found = event.data.counter;
    if (found === undefined) {
      // Hashes tried so far against the expected 2^bits: never 100 until found.
      bar.value = Math.min(99, 100 * (1 - Math.exp(-event.data.tried / expected)));
      return;
    }
    bar.value = 100;
    $("pow-counter").value = String(found);
    document.body.setAttribute("data-pow-ms", String(Math.round(performance.now() - started)));
    $("pow-form").submit();
  };
  worker.postMessage({ challenge: cfg.challenge, bits: cfg.bits });
})();
