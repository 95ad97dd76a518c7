// browser.js drives log.js in TestBrowserLogMatchesRender: it waits for the live stream to
// end, loads every earlier range, searches, clears the search, and reports in the title.
(function () {
  "use strict";
  var violations = [];
  document.addEventListener("securitypolicyviolation", function (e) { violations.push(e.violatedDirective); });
  var clicks = 0, searched = false;
  function report(msg) { document.title = msg; }
  function step() {
    var log = document.querySelector(".lv-log"), earlier = document.querySelector(".lv-earlier");
    if (!earlier || !log.classList.contains("lv-ended") || earlier.disabled) return setTimeout(step, 20);
    if (!earlier.hidden) {
      clicks++;
      earlier.click();
      return setTimeout(step, 20);
    }
    var search = document.querySelector(".lv-search");
    if (!searched) {
      searched = true;
      search.value = "STEP 1";
      search.dispatchEvent(new Event("input"));
      return setTimeout(function () {
        var hits = log.querySelectorAll("mark.lv-hit").length, cur = log.querySelectorAll("mark.lv-cur").length;
        search.value = "";
        search.dispatchEvent(new Event("input"));
        setTimeout(function () {
          report("done clicks=" + clicks + " hits=" + hits + " cur=" + cur +
            " left=" + log.querySelectorAll("mark").length + " violations=" + violations.join(","));
        }, 400);
      }, 400);
    }
  }
  step();
})();
