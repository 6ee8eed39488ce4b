/* The portal's only script. htmx's own settings come from <meta name="htmx-config">
   (allowEval=false, includeIndicatorStyles=false, selfRequestsOnly=true...); this
   file only adds what htmx cannot express: a message when the network itself fails,
   and focus moved to alerts so screen-reader and keyboard users notice them. */
(function () {
  "use strict";

  function alertsRegion() {
    return document.getElementById("portal-alerts");
  }

  function showProblem(text) {
    var region = alertsRegion();
    if (!region) { return; }
    var box = document.createElement("p");
    box.className = "alert alert--error";
    box.setAttribute("role", "alert");
    box.textContent = text;
    region.replaceChildren(box);
  }

  document.addEventListener("htmx:sendError", function () {
    showProblem(document.documentElement.lang === "de"
      ? "Keine Verbindung. Bitte prüfen Sie Ihre Internetverbindung und versuchen Sie es erneut."
      : document.documentElement.lang === "fr"
        ? "Pas de connexion. Vérifiez votre connexion Internet et réessayez."
        : "No connection. Please check your internet connection and try again.");
  });

  document.addEventListener("htmx:timeout", function () {
    showProblem("The request took too long. Please try again.");
  });

  // An error fragment swapped into the alert region: move focus to it.
  document.addEventListener("htmx:afterSwap", function (event) {
    var region = alertsRegion();
    if (region && event.detail && event.detail.target === region) {
      var heading = region.querySelector("h1, h2, [role=alert]");
      if (heading) {
        heading.setAttribute("tabindex", "-1");
        heading.focus();
      }
    }
  });

  // A successful swap clears stale error messages.
  document.addEventListener("htmx:beforeRequest", function () {
    var region = alertsRegion();
    if (region && region.querySelector(".error-box, .alert--error")) {
      region.replaceChildren();
    }
  });
})();
