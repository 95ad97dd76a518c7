// Slipway's page script: live updates over Server-Sent Events, copy buttons, variable rows and
// confirmations. Every page works without it. No inline script and no library.
"use strict";

(function () {
  // Live regions: an element with data-live="URL" listens to that SSE stream. "replace"
  // events carry {target, html}: the element with id target is replaced by html (rendered by
  // the server's templates). "end" closes the stream. The pipelines list asks only for its
  // running rows (data-live-id), as id=N parameters.
  function listen(el) {
    var url = el.getAttribute("data-live");
    var ids = [];
    el.querySelectorAll("[data-live-id]").forEach(function (row) {
      ids.push("id=" + encodeURIComponent(row.getAttribute("data-live-id")));
    });
    if (el.tagName === "TBODY") {
      if (ids.length === 0) return;
      url += (url.indexOf("?") < 0 ? "?" : "&") + ids.join("&");
    }
    var source = new EventSource(url);
    source.addEventListener("replace", function (e) {
      var msg;
      try { msg = JSON.parse(e.data); } catch (err) { return; }
      var old = document.getElementById(msg.target);
      if (!old) return;
      var tpl = document.createElement("template");
      tpl.innerHTML = msg.html;
      var next = tpl.content.firstElementChild;
      if (!next) return;
      // Keep focus where it was when the focused control is re-rendered.
      var focused = document.activeElement && old.contains(document.activeElement) ?
        document.activeElement.getAttribute("aria-label") || document.activeElement.textContent : null;
      old.replaceWith(next);
      wire(next);
      if (focused !== null) {
        next.querySelectorAll("a, button").forEach(function (c) {
          if ((c.getAttribute("aria-label") || c.textContent) === focused) c.focus();
        });
      }
    });
    source.addEventListener("end", function () { source.close(); });
  }

  // Copy buttons beside every [data-copy] element.
  function copyButtons(root) {
    root.querySelectorAll("[data-copy]").forEach(function (el) {
      if (!navigator.clipboard || el.nextElementSibling && el.nextElementSibling.classList.contains("copy-button")) return;
      var b = document.createElement("button");
      b.type = "button";
      b.className = "copy-button";
      b.textContent = "Copy";
      b.addEventListener("click", function () {
        navigator.clipboard.writeText(el.textContent).then(function () {
          b.textContent = "Copied";
          setTimeout(function () { b.textContent = "Copy"; }, 1500);
        });
      });
      el.after(b);
    });
  }

  // Forms with data-confirm ask first.
  function confirmations(root) {
    root.querySelectorAll("form[data-confirm]").forEach(function (f) {
      f.addEventListener("submit", function (e) {
        if (!window.confirm(f.getAttribute("data-confirm"))) e.preventDefault();
      });
    });
  }

  // Fieldsets with data-rows get an "Add row" button that clones their last row.
  function rows(root) {
    root.querySelectorAll("[data-rows]").forEach(function (set) {
      var b = document.createElement("button");
      b.type = "button";
      b.className = "link";
      b.textContent = "Add variable";
      b.addEventListener("click", function () {
        var all = set.querySelectorAll("[data-row]");
        var row = all[all.length - 1].cloneNode(true);
        row.querySelectorAll("input").forEach(function (i) { i.value = ""; });
        b.before(row);
        row.querySelector("input").focus();
      });
      set.appendChild(b);
    });
  }

  function wire(root) {
    copyButtons(root);
    confirmations(root);
  }

  document.addEventListener("DOMContentLoaded", function () {
    wire(document);
    rows(document);
    document.querySelectorAll("[data-live]").forEach(listen);
  });
})();
