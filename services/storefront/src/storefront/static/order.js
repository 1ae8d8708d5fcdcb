// The order page, live: one Server-Sent Events stream; each message carries the sections of
// the page that changed, rendered (and escaped) by the server, and replaces them in place.
(function () {
  "use strict";
  var root = document.querySelector("[data-live-url]");
  if (!root) {
    // Rendered finished (the order had nothing more to come): nothing to watch.
    document.body.dataset.live = "done";
    return;
  }
  if (!window.EventSource) return;
  // After `reconnect` (the replica serving the stream is stopping), the stream is opened
  // again, waiting this long (ms) before each try while no replica answers.
  var RETRY_MS = [250, 500, 1000, 2000, 4000];
  var tries = -1; // -1: not reconnecting
  document.body.dataset.live = "open";

  function open() {
    var source = new EventSource(root.dataset.liveUrl);
    source.onopen = function () {
      tries = -1;
      document.body.dataset.live = "open";
    };
    source.addEventListener("order", function (message) {
      var update = JSON.parse(message.data);
      Object.keys(update.sections).forEach(function (id) {
        var current = document.getElementById(id);
        if (!current) return;
        var template = document.createElement("template");
        template.innerHTML = update.sections[id];
        current.replaceWith(template.content);
      });
      document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1);
    });
    source.addEventListener("done", function () {
      source.close();
      document.body.dataset.live = "done";
    });
    source.addEventListener("reconnect", function () {
      source.close();
      document.body.dataset.live = "reconnecting";
      tries = 0;
      setTimeout(open, RETRY_MS[0]);
    });
    source.onerror = function () {
      // The server closes the stream once the order is finished (after `done`) or when it
      // stops (after `reconnect`); anything else: reload to see.
      source.close();
      if (document.body.dataset.live === "done") return;
      if (tries >= 0 && tries + 1 < RETRY_MS.length) {
        tries += 1;
        setTimeout(open, RETRY_MS[tries]);
        return;
      }
      document.body.dataset.live = "lost";
    };
  }

  open();
})();
