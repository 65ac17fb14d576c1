// Consent link: follow the link's state and show the new consent without a reload.
// Checks every 2 seconds, no faster than the upload page follows its scans.
(function () {
  "use strict";
  var box = document.getElementById("link-state");
  if (!box || box.dataset.state !== "waiting") { return; }
  var status = document.getElementById("link-status");
  var person = document.getElementById("link-person");
  var qr = document.getElementById("qr-box");
  function tick() {
    fetch(box.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (res) { if (!res.ok) { throw new Error(res.status); } return res.json(); })
      .then(function (data) {
        status.textContent = data.message;
        if (data.state === "waiting") { setTimeout(tick, 2000); return; }
        box.dataset.state = data.state;
        status.className = "link-status state-" + data.state;
        if (qr) { qr.hidden = true; }
        if (data.state === "used" && data.person_url) {
          person.href = data.person_url;
          person.hidden = false;
          person.classList.add("primary");
          person.focus();
        }
      })
      .catch(function () { setTimeout(tick, 5000); });
  }
  setTimeout(tick, 2000);
})();
