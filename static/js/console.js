// The monitor's filter bar: empty fields stay out of the URL, the state_data column check
// boxes travel as one cols=a,b parameter, and "Save view" saves the address bar's query.
(function () {
  "use strict";

  function columns() {
    var keys = [];
    document.querySelectorAll("input[data-cols]:checked").forEach(function (box) { keys.push(box.value); });
    return keys.join(",");
  }

  // htmx requests of the filter form: drop empty parameters, fold the column boxes.
  document.addEventListener("htmx:configRequest", function (event) {
    var form = event.detail.elt && event.detail.elt.closest ? event.detail.elt.closest("form[data-drop-empty]") : null;
    if (!form) return;
    var params = event.detail.parameters;
    var picker = document.getElementById("column-picker");
    if (picker) {
      var template = params instanceof FormData ? params.get("template") : params.template;
      // another template, other fields: its columns start empty
      var cols = template === picker.getAttribute("data-template") ? columns() : "";
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

  // The column boxes live in the results (they follow the template filter): a change sends
  // the filter form they belong to.
  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!box.hasAttribute || !box.hasAttribute("data-cols") || !box.form || !window.htmx) return;
    window.htmx.trigger(box.form, "submit");
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
    form.querySelectorAll("input, select").forEach(function (el) { if (el.value === "" && el.name) el.disabled = true; });
  }, true);
})();
