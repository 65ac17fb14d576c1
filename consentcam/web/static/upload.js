// Upload photos one request per file, with a progress bar each, then follow their face scans.
(function () {
  "use strict";
  const form = document.getElementById("upload-form");
  if (!form) return;
  const words = JSON.parse(document.getElementById("upload-words").textContent);
  const list = document.getElementById("upload-list");
  const template = document.getElementById("item-template");
  const zone = document.getElementById("drop-zone");
  const batch = document.getElementById("batch");
  const scanBar = document.getElementById("scan-progress");
  const summary = document.getElementById("scan-summary");
  const csrf = form.querySelector("input[name=csrf_token]").value;
  const watched = new Map(); // photo id -> list items showing it
  let polling = null;

  function fill(text, values) {
    return text.replace(/\{(\w+)\}/g, (_, k) => (k in values ? values[k] : ""));
  }

  function upload(file) {
    const item = template.content.firstElementChild.cloneNode(true);
    item.querySelector(".name").textContent = file.name;
    item.querySelector(".result").textContent = words.uploading;
    list.prepend(item);
    const bar = item.querySelector(".bar");
    const data = new FormData();
    data.append("photos", file, file.name);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.dataset.uploadUrl);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.setRequestHeader("X-CSRFToken", csrf);
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) bar.value = Math.round((e.loaded / e.total) * 100);
    });
    xhr.addEventListener("load", () => {
      bar.value = 100;
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch (err) { body = null; }
      const r = body && body.results && body.results[0];
      if (!r) {
        item.classList.add("rejected");
        item.querySelector(".result").textContent = (body && body.error) || words.failed;
        return;
      }
      show(item, r);
    });
    xhr.addEventListener("error", () => {
      item.classList.add("rejected");
      item.querySelector(".result").textContent = words.failed;
    });
    xhr.send(data);
  }

  function show(item, r) {
    item.classList.add(r.status);
    item.dataset.status = r.status;
    const result = item.querySelector(".result");
    if (r.status === "rejected") {
      result.textContent = words.rejected + ": " + r.error;
      item.querySelector(".bar").remove();
      return;
    }
    result.textContent = r.status === "created" ? words.created : words.duplicate;
    item.dataset.photo = r.photo.id;
    const link = document.createElement("a");
    link.href = r.photo.review_url;
    link.textContent = words.review;
    link.className = "review-link";
    result.append(" · ", link);
    const items = watched.get(r.photo.id) || [];
    items.push(item);
    watched.set(r.photo.id, items);
    scanState(item, r.photo);
    batch.hidden = false;
    poll();
  }

  function scanState(item, photo) {
    const el = item.querySelector(".scan");
    item.dataset.scan = photo.scan_state;
    if (photo.scan_state === "done") el.textContent = fill(words.done_faces, { n: photo.face_count });
    else if (photo.scan_state === "failed") el.textContent = words.scan_failed + ": " + (photo.scan_error || "");
    else el.textContent = words[photo.scan_state] || photo.scan_state;
  }

  function poll() {
    if (polling) return;
    const tick = async () => {
      polling = null;
      const ids = [...watched.keys()];
      if (!ids.length) return;
      let body;
      try {
        const res = await fetch(form.dataset.statusUrl + "?ids=" + ids.join(","), { headers: { Accept: "application/json" }, credentials: "same-origin" });
        body = await res.json();
      } catch (err) {
        polling = setTimeout(tick, 3000);
        return;
      }
      let finished = 0;
      for (const photo of body.photos) {
        for (const item of watched.get(photo.id) || []) scanState(item, photo);
        if (photo.scan_state === "done" || photo.scan_state === "failed") finished += 1;
      }
      scanBar.max = ids.length;
      scanBar.value = finished;
      summary.textContent = fill(words.summary, { done: finished, total: ids.length });
      if (finished < ids.length) polling = setTimeout(tick, 1500);
    };
    polling = setTimeout(tick, 300);
  }

  function take(files) {
    for (const file of files) upload(file);
  }

  for (const input of form.querySelectorAll("input[type=file]")) {
    input.addEventListener("change", () => { take(input.files); input.value = ""; });
  }
  form.addEventListener("submit", (e) => e.preventDefault());
  ["dragenter", "dragover"].forEach((t) => zone.addEventListener(t, (e) => { e.preventDefault(); zone.classList.add("over"); }));
  ["dragleave", "drop"].forEach((t) => zone.addEventListener(t, (e) => { e.preventDefault(); zone.classList.remove("over"); }));
  zone.addEventListener("drop", (e) => take(e.dataTransfer.files));
  // Dropping a photo anywhere else on the page must not navigate away from it.
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("drop", (e) => e.preventDefault());
})();
