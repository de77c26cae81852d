// Never a blank page: if the console's modules fail to load or start, say so instead of waiting.
// A classic script (no modules), so it runs even where app.js cannot.
(function () {
  "use strict";
  function fail() {
    if (document.documentElement.getAttribute("data-ready")) return;
    var status = document.getElementById("status");
    if (!status) return;
    status.textContent =
      "The console could not start. Reload the page; if this keeps happening, tell your administrator.";
    status.className = "status error";
  }
  window.addEventListener(
    "error",
    function (event) {
      var target = event.target;
      if (target && target.tagName === "SCRIPT") fail();
    },
    true
  );
  setTimeout(fail, 10000);
})();
