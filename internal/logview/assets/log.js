// log.js: the job page's log (package internal/logview). No library, no inline code: it
// works under "script-src 'self'; style-src 'self'" and changes looks by classes only.
//
// It enhances each element with class lv-log, which holds the log rendered by the server:
//   data-stream   URL of the Server-Sent Events of the log (absent when the job is over):
//                 "log" events whose data is {"offset":N,"ops":[…]} and id is N, then an
//                 "end" event (its data is passed on as the detail of a "logview:end" event
//                 dispatched on the element);
//   data-offset   the byte offset the rendered log ends at (where the stream starts);
//   data-earlier  URL answering ?before=N with the HTML of the range before offset N and
//                 its start offset in the X-Log-Start header;
//   data-start    the byte offset the rendered log starts at (0: all of it is there).
(function () {
  "use strict";

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text) e.textContent = text;
    return e;
  }

  function withParam(url, key, value) {
    return url + (url.indexOf("?") < 0 ? "?" : "&") + key + "=" + encodeURIComponent(value);
  }

  function parse(html) {
    var t = document.createElement("template");
    t.innerHTML = html;
    return t.content;
  }

  // open is the innermost section still running under root: where new lines go.
  function innermost(root) {
    var c = root;
    for (;;) {
      var last = c.lastElementChild;
      if (last && last.matches("details.lv-sec.lv-run")) c = last;
      else return c;
    }
  }

  function setup(log) {
    var bar = el("div", "lv-bar");
    var earlier = el("button", "lv-earlier", "Load earlier");
    var follow = el("button", "lv-follow", "Follow");
    var stamps = el("button", "lv-stamps", "Timestamps");
    var expand = el("button", "lv-expand", "Expand all");
    var collapse = el("button", "lv-collapse", "Collapse all");
    var search = el("input", "lv-search");
    var prev = el("button", "lv-prev", "Previous");
    var next = el("button", "lv-next", "Next");
    var count = el("span", "lv-count");
    search.type = "search";
    search.placeholder = "Search the log";
    search.setAttribute("aria-label", "Search the log");
    stamps.setAttribute("aria-pressed", "false");
    count.setAttribute("aria-live", "polite");
    [earlier, follow, stamps, expand, collapse, search, prev, next, count].forEach(function (e) {
      if (e.tagName === "BUTTON") e.type = "button";
      bar.appendChild(e);
    });
    log.parentNode.insertBefore(bar, log);

    // Load earlier.
    var start = parseInt(log.dataset.start || "0", 10);
    if (!log.dataset.earlier || start <= 0) earlier.hidden = true;
    earlier.addEventListener("click", function () {
      earlier.disabled = true;
      fetch(withParam(log.dataset.earlier, "before", start), { headers: { Accept: "text/html" } })
        .then(function (res) {
          if (!res.ok) throw new Error("load earlier: " + res.status);
          var from = parseInt(res.headers.get("X-Log-Start") || "", 10);
          return res.text().then(function (html) {
            if (isNaN(from) || from >= start) throw new Error("load earlier: bad X-Log-Start");
            var height = document.documentElement.scrollHeight;
            stitch(log, parse(html));
            window.scrollBy(0, document.documentElement.scrollHeight - height); // keep the view
            start = from;
            log.dataset.start = String(from);
            earlier.hidden = from <= 0;
          });
        })
        .catch(function (e) { count.textContent = String(e.message || e); })
        .then(function () { earlier.disabled = false; });
    });

    // Follow the tail until the reader scrolls up.
    var following = !location.hash;
    function atBottom() {
      return window.innerHeight + window.scrollY >= document.documentElement.scrollHeight - 48;
    }
    function toBottom() { window.scrollTo(0, document.documentElement.scrollHeight); }
    function showFollow() { follow.hidden = following || !log.dataset.stream || log.classList.contains("lv-ended"); }
    window.addEventListener("scroll", function () {
      following = atBottom();
      showFollow();
    }, { passive: true });
    follow.addEventListener("click", function () { following = true; showFollow(); toBottom(); });
    showFollow();
    if (following && log.dataset.stream) toBottom();

    stamps.addEventListener("click", function () {
      var on = log.classList.toggle("lv-show-ts");
      stamps.setAttribute("aria-pressed", on ? "true" : "false");
    });
    function setAll(open) {
      log.querySelectorAll("details.lv-sec").forEach(function (d) { d.open = open; });
    }
    expand.addEventListener("click", function () { setAll(true); });
    collapse.addEventListener("click", function () { setAll(false); });

    // Search within the loaded part.
    var hits = [], cur = -1, timer = 0;
    function clearHits() {
      hits.forEach(function (m) {
        var p = m.parentNode;
        if (!p) return;
        p.replaceChild(document.createTextNode(m.textContent), m);
        p.normalize();
      });
      hits = [];
      cur = -1;
    }
    function find(q) {
      clearHits();
      if (q) {
        var needle = q.toLowerCase();
        var walker = document.createTreeWalker(log, NodeFilter.SHOW_TEXT, {
          acceptNode: function (n) { return n.parentNode.closest(".lv-c") ? NodeFilter.FILTER_ACCEPT : NodeFilter.FILTER_REJECT; }
        });
        var nodes = [];
        for (var n = walker.nextNode(); n; n = walker.nextNode()) nodes.push(n);
        for (var i = 0; i < nodes.length && hits.length < 10000; i++) {
          var node = nodes[i], at;
          while (node && (at = node.data.toLowerCase().indexOf(needle)) >= 0 && hits.length < 10000) {
            var match = node.splitText(at);
            node = match.splitText(needle.length);
            var mark = el("mark", "lv-hit");
            match.parentNode.replaceChild(mark, match);
            mark.appendChild(match);
            hits.push(mark);
          }
        }
      }
      count.textContent = q ? hits.length + (hits.length >= 10000 ? "+" : "") + " found" : "";
      if (hits.length) go(0);
    }
    function go(i) {
      if (!hits.length) return;
      if (cur >= 0) hits[cur].classList.remove("lv-cur");
      cur = (i + hits.length) % hits.length;
      var m = hits[cur];
      m.classList.add("lv-cur");
      for (var d = m.closest("details"); d; d = d.parentNode.closest("details")) d.open = true;
      following = false;
      showFollow();
      m.scrollIntoView({ block: "center" });
      count.textContent = (cur + 1) + " of " + hits.length;
    }
    search.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () { find(search.value); }, 200);
    });
    search.addEventListener("keydown", function (e) {
      if (e.key === "Enter") {
        e.preventDefault();
        if (e.shiftKey) go(cur - 1); else if (hits.length) go(cur + 1); else find(search.value);
      }
    });
    next.addEventListener("click", function () { go(cur + 1); });
    prev.addEventListener("click", function () { go(cur - 1); });

    // An anchor to a line: open the sections around it.
    if (location.hash) {
      var target = document.getElementById(location.hash.slice(1));
      if (target && log.contains(target)) {
        for (var d = target.parentNode.closest("details"); d; d = d.parentNode.closest("details")) d.open = true;
        target.scrollIntoView();
      }
    }

    // Live updates.
    if (!log.dataset.stream) return;
    var offset = parseInt(log.dataset.offset || "0", 10), es = null, backoff = 1000;
    function apply(u) {
      var c = innermost(log), lines = [];
      function flush() {
        if (lines.length) { c.appendChild(parse(lines.join(""))); lines = []; }
      }
      u.ops.forEach(function (op) {
        if (op.k === "l") {
          lines.push(op.h);
        } else if (op.k === "o") {
          flush();
          var sec = parse(op.h).firstElementChild;
          c.appendChild(sec);
          c = sec;
        } else if (op.k === "c" && c !== log) {
          flush();
          c.classList.remove("lv-run");
          var dur = c.querySelector(":scope > summary .lv-dur");
          if (dur) dur.textContent = op.d || "";
          c = c.parentNode.closest("details.lv-sec") || log;
        }
      });
      flush();
      offset = u.offset;
      log.dataset.offset = String(offset);
      if (following) toBottom();
    }
    function connect(url) {
      es = new EventSource(url);
      es.addEventListener("log", function (e) {
        backoff = 1000;
        apply(JSON.parse(e.data));
      });
      es.addEventListener("end", function (e) {
        es.close();
        log.classList.add("lv-ended");
        showFollow();
        var detail = null;
        try { detail = JSON.parse(e.data); } catch (err) { detail = null; }
        log.dispatchEvent(new CustomEvent("logview:end", { detail: detail }));
      });
      es.addEventListener("error", function () {
        // The browser reconnects by itself (sending Last-Event-ID) unless the server
        // refused; then reconnect from the last byte held, later.
        if (es.readyState !== EventSource.CLOSED) return;
        setTimeout(function () { connect(withParam(log.dataset.stream, "offset", offset)); }, backoff);
        backoff = Math.min(backoff * 2, 30000);
      });
    }
    connect(withParam(log.dataset.stream, "offset", offset));
  }

  // stitch puts frag, the range just before the log's content, in front of it: sections
  // open at its end (details.lv-run) are those the log's content starts inside (its
  // details.lv-more): their children join the real section, which takes their state.
  function stitch(log, frag) {
    var pairs = [], a = frag, b = log;
    for (;;) {
      var la = a.lastElementChild, fb = b.firstElementChild;
      if (fb && fb.tagName === "SUMMARY") fb = fb.nextElementSibling;
      if (!la || !fb || !la.matches("details.lv-sec.lv-run") || !fb.matches("details.lv-sec.lv-more") ||
        la.dataset.name !== fb.dataset.name) break;
      pairs.push([la, fb]);
      a = la;
      b = fb;
    }
    log.insertBefore(frag, log.firstChild);
    pairs.forEach(function (p) {
      var real = p[0], more = p[1];
      var kids = Array.prototype.slice.call(more.childNodes, 1); // all but its summary
      kids.forEach(function (k) { real.appendChild(k); });
      if (!more.classList.contains("lv-run")) {
        real.classList.remove("lv-run");
        var from = more.querySelector(":scope > summary .lv-dur"), to = real.querySelector(":scope > summary .lv-dur");
        if (from && to) to.textContent = from.textContent;
      }
      real.open = more.open;
      more.parentNode.removeChild(more);
    });
  }

  function init() {
    document.querySelectorAll(".lv-log").forEach(setup);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
