// Reloads the overview when the store has new data (polls a tiny JSON; no framework).
(function () {
  var el = document.querySelector("[data-stamp]");
  if (!el) return;
  var url = el.getAttribute("data-stamp-url");
  var shown = el.getAttribute("data-stamp");
  var every = parseInt(el.getAttribute("data-poll-ms") || "30000", 10);
  function poll() {
    fetch(url, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (d) { if (d && d.stamp && d.stamp !== shown) { location.reload(); } })
      .catch(function () {})
      .finally(function () { setTimeout(poll, every); });
  }
  setTimeout(poll, every);
})();
