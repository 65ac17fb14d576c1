// Review page: find people by name as you type, link face boxes and cards, follow an unfinished scan.
(function () {
  "use strict";
  for (const select of document.querySelectorAll("select[data-autosubmit]")) {
    select.addEventListener("change", () => select.form.submit());
  }
  // The picker asks the server for matching names (a few at a time) instead of listing everyone;
  // each match is a submit button of the assign form, so a tap assigns that person.
  for (const find of document.querySelectorAll(".person-find")) {
    const pick = find.nextElementSibling;
    const search = find.querySelector(".person-search");
    const results = pick && pick.querySelector(".person-results");
    if (!results || !search) continue;
    const suggested = results.querySelector(".person-option.suggested");
    let timer = null;
    let asked = 0;
    const hint = (text) => {
      const p = document.createElement("p");
      p.className = "muted small person-hint";
      p.textContent = text;
      return p;
    };
    const show = (people, q) => {
      const items = suggested ? [suggested] : [];
      for (const person of people) {
        if (suggested && String(person.id) === suggested.value) continue;
        const button = document.createElement("button");
        button.type = "submit";
        button.name = "person_id";
        button.value = String(person.id);
        button.className = "person-option";
        button.dataset.person = String(person.id);
        button.textContent = person.name;
        items.push(button);
      }
      if (items.length === (suggested ? 1 : 0)) {
        items.push(hint(q ? results.dataset.none : results.dataset.prompt));
      }
      results.replaceChildren(...items);
    };
    const ask = async () => {
      const q = search.value.trim();
      const mine = ++asked;
      if (!q) { show([], ""); return; }
      try {
        const url = find.dataset.searchUrl + "?q=" + encodeURIComponent(q);
        const res = await fetch(url, { headers: { Accept: "application/json" } });
        if (!res.ok) return;
        const body = await res.json();
        if (mine === asked) show(body.people || [], q);  // an older, slower answer is dropped
      } catch (err) { /* offline: the Search button still works */ }
    };
    search.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(ask, 200);
    });
    find.addEventListener("submit", (event) => {
      event.preventDefault();
      clearTimeout(timer);
      ask();
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
