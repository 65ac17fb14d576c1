// While a queued post is being published, ask the server how it is going and reload the page
// when something changed (the cleared copy is ready to download, or the post went out or failed).
(function () {
  var box = document.getElementById("publishing");
  if (!box) return;
  var seen = box.dataset.state;
  function tick() {
    fetch(box.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (s) {
        if (s.state !== seen) { window.location.reload(); return; }
        setTimeout(tick, 1500);
      })
      .catch(function () { setTimeout(tick, 4000); });
  }
  setTimeout(tick, 1000);
})();
