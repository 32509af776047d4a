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

  // A refused action always says why, whatever its status code. The htmx config swaps 2xx,
  // 401, 409 and 422 answers; any other refusal (404, 403, 400, 500, ...) is shown here: a
  // fragment the route rendered for its target is swapped in as usual; the generic error page
  // and empty answers become a message at the top of the page. Polls ([data-live]) that fail
  // keep what they show and try again.
  function showError(message) {
    var area = document.getElementById("flash");
    if (!area) return;
    var p = document.createElement("p");
    p.className = "flash flash-error";
    p.setAttribute("role", "alert");
    p.textContent = message;
    area.replaceChildren(p);
  }

  document.addEventListener("htmx:beforeSwap", function (event) {
    var detail = event.detail;
    var status = detail.xhr ? detail.xhr.status : 0;
    if (status < 400 || detail.shouldSwap) return;
    var elt = detail.elt || detail.requestConfig && detail.requestConfig.elt;
    if (elt && elt.closest && elt.closest("[data-live]") && elt.hasAttribute("data-live")) return;
    var body = detail.serverResponse || (detail.xhr && detail.xhr.responseText) || "";
    var doc = body ? new DOMParser().parseFromString(body, "text/html") : null;
    var errorPage = doc && doc.querySelector(".error-page");
    if (doc && !errorPage && doc.body && doc.body.children.length) {
      detail.shouldSwap = true;
      detail.isError = false;
      return;
    }
    var text = "";
    if (errorPage) {
      text = Array.prototype.map.call(errorPage.querySelectorAll("h1, p:not(:last-child)"), function (n) {
        return n.textContent.trim();
      }).filter(Boolean).join(" ");
    }
    showError(text || "The action was refused (HTTP " + status + ").");
  });

  // Narrow screens: the menu button folds and unfolds the main navigation.
  document.addEventListener("click", function (event) {
    var toggle = event.target.closest("#nav-toggle");
    if (!toggle) return;
    var bar = toggle.closest(".topbar");
    var open = toggle.getAttribute("aria-expanded") !== "true";
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
    if (bar) bar.classList.toggle("nav-open", open);
  });
})();
