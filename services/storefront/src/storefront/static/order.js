// The order page, live: one Server-Sent Events stream; each message carries the sections of
// the page that changed, rendered (and escaped) by the server, and replaces them in place.
(function () {
  "use strict";
  var root = document.querySelector("[data-live-url]");
  if (!root || !window.EventSource) return;
  var source = new EventSource(root.dataset.liveUrl);
  document.body.dataset.live = "open";
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
  source.onerror = function () {
    // The server closes the stream once the order is finished; anything else: reload to see.
    if (document.body.dataset.live !== "done") document.body.dataset.live = "lost";
    source.close();
  };
})();
