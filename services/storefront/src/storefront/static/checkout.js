// The checkout form is sent once: a second click while it is on its way does nothing. (Sent
// twice anyway, it carries the same Idempotency-Key, and the server makes one order.)
(function () {
  "use strict";
  var form = document.getElementById("checkout-form");
  if (!form) return;
  form.addEventListener("submit", function (event) {
    if (form.dataset.sent) { event.preventDefault(); return; }
    form.dataset.sent = "yes";
    var button = document.getElementById("place-order");
    if (button) button.setAttribute("aria-busy", "true");
  });
})();
