/* Customer pages: keep keyboard and screen-reader users oriented after htmx swaps.
   After a list's results are replaced by a click inside them (sort header, page link),
   the clicked element is gone: focus moves to the result summary, which is announced.
   Typing in the search field keeps its focus. Nothing here is needed without JavaScript. */
(function () {
  "use strict";

  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail && event.detail.target;
    if (!target || target.id !== "list-results") { return; }
    var trigger = event.detail.requestConfig && event.detail.requestConfig.elt;
    if (trigger && trigger.closest && trigger.closest("form")) { return; }
    var summary = document.getElementById("results-summary");
    if (summary) { summary.focus({ preventScroll: false }); }
  });
})();
