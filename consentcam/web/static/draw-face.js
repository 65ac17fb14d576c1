// Review page: draw a box around a face the scanner missed, with a mouse or a finger.
// Drag to draw; a single tap places a box of a sensible size; drag the box to move it and its
// corner to resize it. The box is kept in the form's fields in full-resolution pixels.
(function () {
  "use strict";
  const form = document.getElementById("draw-form");
  const figure = document.getElementById("face-figure");
  const image = document.getElementById("review-image");
  const start = document.getElementById("draw-start");
  if (!form || !figure || !image || !start) return;
  const width = Number(form.dataset.width);
  const height = Number(form.dataset.height);
  const least = Number(form.dataset.minSide) || 16;
  const fields = ["left", "top", "right", "bottom"].map((n) => form.elements[n]);
  const hint = document.getElementById("draw-hint");

  const layer = document.createElement("div");
  layer.className = "draw-layer";
  const box = document.createElement("div");
  box.className = "draw-box";
  box.hidden = true;
  const grip = document.createElement("span");
  grip.className = "draw-grip";
  box.appendChild(grip);
  layer.appendChild(box);

  // The box in full-resolution pixels, or null.
  let rect = null;
  const scale = () => width / image.getBoundingClientRect().width;
  const clamp = (v, lo, hi) => Math.min(Math.max(v, lo), hi);
  const point = (event) => {
    const r = image.getBoundingClientRect();
    const k = width / r.width;
    return { x: clamp((event.clientX - r.left) * k, 0, width), y: clamp((event.clientY - r.top) * k, 0, height) };
  };

  const show = () => {
    if (!rect) { box.hidden = true; return; }
    const k = 1 / scale();
    box.hidden = false;
    box.style.left = rect.left * k + "px";
    box.style.top = rect.top * k + "px";
    box.style.width = (rect.right - rect.left) * k + "px";
    box.style.height = (rect.bottom - rect.top) * k + "px";
    const values = [rect.left, rect.top, rect.right, rect.bottom].map(Math.round);
    fields.forEach((f, i) => { f.value = String(values[i]); });
  };

  const fit = (r) => {
    // Keep a box inside the photo and at least the smallest size the server takes.
    let w = Math.max(r.right - r.left, least);
    let h = Math.max(r.bottom - r.top, least);
    w = Math.min(w, width);
    h = Math.min(h, height);
    const left = clamp(r.left, 0, width - w);
    const top = clamp(r.top, 0, height - h);
    return { left, top, right: left + w, bottom: top + h };
  };

  const fromFields = () => {
    const v = fields.map((f) => Number(f.value));
    if (v.every((n) => Number.isFinite(n)) && v[2] > v[0] && v[3] > v[1] && fields[2].value !== "") {
      rect = fit({ left: v[0], top: v[1], right: v[2], bottom: v[3] });
    }
  };

  let drag = null;
  const TAP = 6; // screen pixels a finger may wander and still tap

  layer.addEventListener("pointerdown", (event) => {
    if (event.button !== undefined && event.button > 0) return;
    event.preventDefault();
    layer.setPointerCapture(event.pointerId);
    const p = point(event);
    let mode = "draw";
    if (event.target === grip && rect) mode = "resize";
    else if (rect && p.x >= rect.left && p.x <= rect.right && p.y >= rect.top && p.y <= rect.bottom) mode = "move";
    drag = { mode, from: p, was: rect && { ...rect }, x: event.clientX, y: event.clientY, moved: false };
  });

  layer.addEventListener("pointermove", (event) => {
    if (!drag) return;
    const p = point(event);
    if (Math.abs(event.clientX - drag.x) + Math.abs(event.clientY - drag.y) > TAP) drag.moved = true;
    if (!drag.moved) return;
    const dx = p.x - drag.from.x;
    const dy = p.y - drag.from.y;
    if (drag.mode === "move") {
      const w = drag.was.right - drag.was.left;
      const h = drag.was.bottom - drag.was.top;
      const left = clamp(drag.was.left + dx, 0, width - w);
      const top = clamp(drag.was.top + dy, 0, height - h);
      rect = { left, top, right: left + w, bottom: top + h };
    } else if (drag.mode === "resize") {
      rect = {
        left: drag.was.left,
        top: drag.was.top,
        right: clamp(Math.max(p.x, drag.was.left + least), 0, width),
        bottom: clamp(Math.max(p.y, drag.was.top + least), 0, height),
      };
    } else {
      rect = {
        left: Math.min(drag.from.x, p.x),
        top: Math.min(drag.from.y, p.y),
        right: Math.max(drag.from.x, p.x),
        bottom: Math.max(drag.from.y, p.y),
      };
    }
    show();
  });

  const finish = (event) => {
    if (!drag) return;
    if (!drag.moved && drag.mode !== "resize") {
      // A tap: a square box about the size of a face in a group photo, centred where tapped.
      const side = Math.max(least, Math.round(Math.min(width, height) * 0.15));
      const p = point(event);
      rect = fit({ left: p.x - side / 2, top: p.y - side / 2, right: p.x + side / 2, bottom: p.y + side / 2 });
    } else if (rect) {
      rect = fit(rect);
    }
    drag = null;
    show();
    form.querySelector("button[type=submit]").disabled = !rect;
  };
  layer.addEventListener("pointerup", finish);
  layer.addEventListener("pointercancel", () => { drag = null; show(); });

  const begin = () => {
    figure.appendChild(layer);
    figure.classList.add("drawing");
    form.hidden = false;
    form.classList.add("active");
    start.hidden = true;
    if (hint) hint.hidden = false;
    fromFields();
    show();
    form.querySelector("button[type=submit]").disabled = !rect;
  };
  const stop = () => {
    layer.remove();
    figure.classList.remove("drawing");
    form.classList.remove("active");
    form.hidden = true;
    start.hidden = false;
    if (hint) hint.hidden = true;
  };

  start.addEventListener("click", begin);
  const cancel = document.getElementById("draw-cancel");
  if (cancel) cancel.addEventListener("click", (event) => { event.preventDefault(); rect = null; show(); stop(); });
  for (const f of fields) f.addEventListener("change", () => { fromFields(); show(); });
  window.addEventListener("resize", show);
  // Without script the form shows its number fields; with it, the box is drawn instead.
  form.classList.add("scripted");
  form.hidden = true;
  start.hidden = false;
  if (form.dataset.open === "1") begin();
})();
