// The workflow template editor: unsaved work survives a reload (sessionStorage, keyed by the
// editor's URL), leaving with unsaved work asks first, and "Add field" moves focus to the new
// field's key. No inline scripts: the CSP allows only files from /static.
(function () {
  "use strict";

  var KEY = "wfapp-editor-draft:" + location.pathname;
  var dirty = false;
  var opRequest = null; // the request of an op (add, remove, reorder, mode switch) in flight
  var focusAfter = null; // the request of an "Add field" whose answer gets the focus

  function form() { return document.getElementById("editor-form"); }

  function storage() {
    try { return window.sessionStorage; } catch (e) { return null; }
  }

  function snapshot() {
    var f = form();
    var store = storage();
    if (!f || !store) return;
    var pairs = [];
    new FormData(f).forEach(function (value, name) {
      if (name !== "csrf_token" && name !== "op" && typeof value === "string") pairs.push([name, value]);
    });
    try { store.setItem(KEY, JSON.stringify(pairs)); } catch (e) { /* full: the prompt still guards */ }
  }

  function forget() {
    dirty = false;
    var store = storage();
    if (store) store.removeItem(KEY);
  }

  function changed(event) {
    var f = form();
    if (!f || !event.target || !f.contains(event.target)) return;
    dirty = true;
    snapshot();
  }
  document.addEventListener("input", changed);
  document.addEventListener("change", changed);

  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail.elt;
    if (!elt || !elt.getAttribute) return;
    if (elt.getAttribute("name") === "op") opRequest = event.detail.xhr;
    if (elt.id === "add-field") focusAfter = event.detail.xhr;
  });

  // A successful save forgets the draft before the redirect it answers with (no prompt then).
  document.addEventListener("htmx:beforeOnLoad", function (event) {
    var detail = event.detail;
    var elt = detail.elt;
    var status = detail.xhr ? detail.xhr.status : 0;
    if (elt && elt.id === "editor-form" && status >= 200 && status < 300) forget();
  });

  document.addEventListener("htmx:afterSettle", function (event) {
    var detail = event.detail;
    if (!form()) return;
    // an op changes the form: the draft follows it
    if (opRequest && detail.xhr === opRequest) {
      opRequest = null;
      dirty = true;
      snapshot();
    }
    if (focusAfter && detail.xhr === focusAfter) {
      focusAfter = null;
      var key = document.querySelector("#builder-fields > li:last-child input[id$='-key']");
      if (key) key.focus();
    }
  });

  window.addEventListener("beforeunload", function (event) {
    if (!dirty) return;
    event.preventDefault();
    event.returnValue = "";
  });

  function notice() {
    var area = document.getElementById("draft-notice");
    if (!area) return;
    var text = document.createElement("span");
    text.textContent = "Unsaved changes restored. ";
    var discard = document.createElement("button");
    discard.type = "button";
    discard.id = "draft-discard";
    discard.className = "small";
    discard.textContent = "Discard them";
    discard.addEventListener("click", function () {
      forget();
      location.reload();
    });
    area.replaceChildren(text, discard);
    area.hidden = false;
  }

  // On load: a draft of this editor is put back by the server's own "refresh" op, which
  // re-renders the whole editor (rows included) from the values.
  document.addEventListener("DOMContentLoaded", function () {
    var f = form();
    var store = storage();
    if (!f || !store || !window.htmx) return;
    var raw = store.getItem(KEY);
    if (!raw) return;
    var pairs;
    try { pairs = JSON.parse(raw); } catch (e) { store.removeItem(KEY); return; }
    if (!Array.isArray(pairs) || !pairs.length) return;
    var values = {};
    pairs.forEach(function (pair) {
      var name = pair[0];
      if (!(name in values)) values[name] = pair[1];
      else if (Array.isArray(values[name])) values[name].push(pair[1]);
      else values[name] = [values[name], pair[1]];
    });
    var csrf = f.querySelector("input[name=csrf_token]");
    values.csrf_token = csrf ? csrf.value : "";
    values.op = "refresh";
    dirty = true;
    window.htmx.ajax("POST", f.getAttribute("data-op-url"), { target: "#editor", swap: "outerHTML", values: values })
      .then(notice);
  });
})();
