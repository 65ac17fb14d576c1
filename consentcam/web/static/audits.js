// Poll a running audit's progress and reload the page when it is done.
(function () {
  var box = document.getElementById("progress");
  if (!box) return;
  var bar = document.getElementById("progress-bar");
  var text = document.getElementById("progress-text");
  function tick() {
    fetch(box.dataset.url, { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (s) {
        bar.max = s.total || 1;
        bar.value = s.done;
        text.textContent = s.done + "/" + s.total;
        if (s.state !== "running") { window.location.reload(); return; }
        setTimeout(tick, 1500);
      })
      .catch(function () { setTimeout(tick, 4000); });
  }
  setTimeout(tick, 1000);
})();
