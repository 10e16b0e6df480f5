// Tether admin portal: progressive enhancement only. Every page works
// without this script; with it, secrets get a copy button, a form sent
// once cannot be sent again by a second click, and rolls ask first.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("[data-copy]").forEach(function (code) {
    if (!navigator.clipboard) return;
    var button = document.createElement("button");
    button.type = "button";
    button.className = "quiet";
    button.textContent = "Copy";
    button.setAttribute("aria-label", "Copy " + (code.getAttribute("data-copy") || "the value"));
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(code.textContent.trim()).then(function () {
        button.textContent = "Copied";
      });
    });
    code.insertAdjacentElement("afterend", button);
  });
  document.querySelectorAll("form[method=post]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      var confirmText = form.getAttribute("data-confirm");
      if (confirmText && !window.confirm(confirmText)) {
        event.preventDefault();
        return;
      }
      form.querySelectorAll("button[type=submit]").forEach(function (b) {
        b.disabled = true;
        b.setAttribute("aria-busy", "true");
      });
    });
  });
});
