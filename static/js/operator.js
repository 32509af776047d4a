// The operator's pages. No inline scripts: the CSP allows only files from /static.
(function () {
  "use strict";

  // Live regions ([data-live]) poll only while the tab is visible: a hidden tab's poll is
  // dropped before it is sent (htmx trigger filters would need eval, which the CSP forbids).
  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail && event.detail.elt;
    if (document.visibilityState === "hidden" && elt && elt.hasAttribute && elt.hasAttribute("data-live")) {
      event.preventDefault();
    }
  });
})();
