// Small behaviours the pages share. No inline scripts: the CSP allows only files from /static.
(function () {
  "use strict";

  // <button data-copy-target="#id">: copies the text of the target element to the clipboard.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-target]");
    if (!button) return;
    var target = document.querySelector(button.getAttribute("data-copy-target"));
    if (!target) return;
    var text = target.value !== undefined ? target.value : target.textContent;
    var done = function () {
      var label = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done);
    } else {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.className = "offscreen";
      document.body.appendChild(area);
      area.select();
      document.execCommand("copy");
      document.body.removeChild(area);
      done();
    }
  });

  // Flash messages fade out of the way after a while (they stay readable to screen readers
  // until replaced).
  document.addEventListener("htmx:afterSettle", function () {
    var area = document.getElementById("flash");
    if (area) area.classList.remove("stale");
  });

  // Keep focus on a swapped-in fragment's first heading for keyboard and screen-reader users
  // when a whole section was replaced (not for live previews).
  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    if (target && target.hasAttribute && target.hasAttribute("data-focus-on-swap")) {
      var heading = target.querySelector("h1, h2");
      if (heading) { heading.setAttribute("tabindex", "-1"); heading.focus(); }
    }
  });
})();
