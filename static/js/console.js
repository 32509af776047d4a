// The monitor's filter bar: empty fields stay out of the URL, the state_data column check
// boxes travel as one cols=a,b parameter, and "Save view" saves the address bar's query.
(function () {
  "use strict";

  function columns(form) {
    var keys = [];
    form.querySelectorAll("input[data-cols]:checked").forEach(function (box) { keys.push(box.value); });
    return keys.join(",");
  }

  // htmx requests of the filter form: drop empty parameters, fold the column boxes.
  document.addEventListener("htmx:configRequest", function (event) {
    var form = event.detail.elt && event.detail.elt.closest ? event.detail.elt.closest("form[data-drop-empty]") : null;
    if (!form) return;
    var params = event.detail.parameters;
    if (form.querySelector("input[data-cols]")) {
      var cols = columns(form);
      if (params instanceof FormData) { params.delete("col"); params.delete("cols"); if (cols) params.set("cols", cols); }
      else { delete params.col; delete params.cols; if (cols) params.cols = cols; }
    }
    if (params instanceof FormData) {
      var empty = [];
      params.forEach(function (value, key) { if (value === "") empty.push(key); });
      empty.forEach(function (key) {
        var kept = params.getAll(key).filter(function (v) { return v !== ""; });
        params.delete(key);
        kept.forEach(function (v) { params.append(key, v); });
      });
    } else {
      Object.keys(params).forEach(function (key) {
        var value = params[key];
        if (Array.isArray(value)) {
          value = value.filter(function (v) { return v !== ""; });
          if (value.length) params[key] = value; else delete params[key];
        } else if (value === "" || value === undefined || value === null) {
          delete params[key];
        }
      });
    }
  });

  // A plain submit (no htmx): disable empty fields so that the browser leaves them out.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.id === "save-view-form") {
      var query = form.querySelector("#save-view-query");
      if (query) query.value = window.location.search.replace(/^\?/, "");
      return;
    }
    // htmx sends this form itself (configRequest above); the server drops what is left
    if (!form.hasAttribute("data-drop-empty") || (window.htmx && form.hasAttribute("hx-get"))) return;
    var hidden = form.querySelector("#f-cols");
    if (hidden) hidden.value = columns(form);
    form.querySelectorAll("input[data-cols]").forEach(function (box) { box.disabled = true; });
    form.querySelectorAll("input, select").forEach(function (el) { if (el.value === "" && el.name) el.disabled = true; });
  }, true);
})();
