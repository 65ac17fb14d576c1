// Review page: filter the people list as you type, link face boxes and cards, follow an unfinished scan.
(function () {
  "use strict";
  for (const select of document.querySelectorAll("select[data-autosubmit]")) {
    select.addEventListener("change", () => select.form.submit());
  }
  for (const form of document.querySelectorAll(".person-pick")) {
    const search = form.querySelector(".person-search");
    const select = form.querySelector(".person-select");
    search.addEventListener("input", () => {
      const q = search.value.trim().toLowerCase();
      let first = null;
      for (const opt of select.options) {
        const hit = !q || opt.text.toLowerCase().includes(q);
        opt.hidden = !hit;
        if (hit && !first) first = opt;
      }
      if (first && (select.selectedIndex < 0 || select.options[select.selectedIndex].hidden)) first.selected = true;
    });
  }
  for (const box of document.querySelectorAll(".face-boxes a")) {
    const card = document.getElementById("face-" + box.dataset.face);
    if (!card) continue;
    const on = () => { box.classList.add("hover"); card.classList.add("highlight"); };
    const off = () => { box.classList.remove("hover"); card.classList.remove("highlight"); };
    box.addEventListener("mouseenter", on);
    box.addEventListener("mouseleave", off);
    card.addEventListener("mouseenter", on);
    card.addEventListener("mouseleave", off);
  }
  const wait = document.getElementById("scan-wait");
  if (wait) {
    const tick = async () => {
      try {
        const res = await fetch(wait.dataset.statusUrl, { headers: { Accept: "application/json" } });
        const body = await res.json();
        const photo = body.photos[0];
        if (photo && (photo.scan_state === "done" || photo.scan_state === "failed")) {
          window.location.reload();
          return;
        }
      } catch (err) { /* try again */ }
      setTimeout(tick, 1500);
    };
    setTimeout(tick, 1500);
  }
})();
