// The dashboard works without this file; it only stops a second click from sending a form twice while the first
// is on its way (the server sends a reply once anyway, whatever the browser does).
"use strict";
document.addEventListener("submit", function (event) {
  var form = event.target;
  var button = form.querySelector("button[data-once]");
  if (!button) return;
  if (form.dataset.sent === "1") {
    event.preventDefault();
    return;
  }
  form.dataset.sent = "1";
  window.setTimeout(function () { button.disabled = true; }, 0);
});
