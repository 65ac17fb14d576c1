// Consent form: draw a signature with touch, pen or mouse (pointer events), show the parts that apply.
(function () {
  "use strict";
  var form = document.getElementById("consent-form");
  if (!form) { return; }
  var canvas = document.getElementById("signature-canvas");
  var hidden = form.querySelector("input[name=signature]");
  var status = document.getElementById("signature-status");
  var ctx = canvas.getContext("2d");
  var drawing = false;
  var inked = 0;
  var last = null;

  function size() {
    // Match the bitmap to the displayed size so strokes are crisp. A signature already drawn
    // is kept, scaled to the new size, so turning the phone does not lose it.
    var ratio = window.devicePixelRatio || 1;
    var rect = canvas.getBoundingClientRect();
    var width = Math.max(1, Math.round(rect.width * ratio));
    var height = Math.max(1, Math.round(rect.height * ratio));
    if (width === canvas.width && height === canvas.height && canvas.dataset.sized) { return; }
    var kept = null;
    if (inked > 0) {
      kept = document.createElement("canvas");
      kept.width = canvas.width;
      kept.height = canvas.height;
      kept.getContext("2d").drawImage(canvas, 0, 0);
    }
    canvas.width = width;
    canvas.height = height;
    canvas.dataset.sized = "1";
    if (kept) {
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.drawImage(kept, 0, 0, width, height);
    }
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.lineWidth = 2.6;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.strokeStyle = "#111";
    hidden.value = inked > 0 ? canvas.toDataURL("image/png") : "";
    showStatus();
  }

  function point(event) {
    var rect = canvas.getBoundingClientRect();
    return { x: event.clientX - rect.left, y: event.clientY - rect.top };
  }

  function showStatus() {
    status.textContent = inked > 0 ? status.dataset.signed : status.dataset.empty;
    canvas.classList.toggle("signed", inked > 0);
  }

  canvas.addEventListener("pointerdown", function (event) {
    event.preventDefault();
    canvas.setPointerCapture(event.pointerId);
    drawing = true;
    last = point(event);
    ctx.beginPath();
    ctx.arc(last.x, last.y, ctx.lineWidth / 2, 0, Math.PI * 2);
    ctx.fillStyle = "#111";
    ctx.fill();
  });
  canvas.addEventListener("pointermove", function (event) {
    if (!drawing) { return; }
    event.preventDefault();
    var events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
    if (!events.length) { events = [event]; }
    ctx.beginPath();
    ctx.moveTo(last.x, last.y);
    for (var i = 0; i < events.length; i++) {
      var p = point(events[i]);
      ctx.lineTo(p.x, p.y);
      inked += Math.abs(p.x - last.x) + Math.abs(p.y - last.y);
      last = p;
    }
    ctx.stroke();
  });
  function stop(event) {
    if (!drawing) { return; }
    drawing = false;
    if (canvas.hasPointerCapture(event.pointerId)) { canvas.releasePointerCapture(event.pointerId); }
    hidden.value = inked > 0 ? canvas.toDataURL("image/png") : "";
    showStatus();
  }
  canvas.addEventListener("pointerup", stop);
  canvas.addEventListener("pointercancel", stop);

  document.getElementById("signature-clear").addEventListener("click", function () {
    ctx.save();
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.restore();
    inked = 0;
    hidden.value = "";
    showStatus();
  });

  function checked(name) {
    var input = form.querySelector("input[name=" + name + "]:checked");
    return input ? input.value : "";
  }
  function show(id, visible) {
    // The customer's own signing page has only some of these parts.
    var element = document.getElementById(id);
    if (element) { element.hidden = !visible; }
  }
  function toggle() {
    var scope = checked("scope");
    var evidence = checked("evidence_kind") || "signature";
    var minorBox = document.getElementById("minor");
    var minor = minorBox ? minorBox.checked : false;
    show("photo-choice", scope === "listed");
    if (minorBox) {
      show("guardian", minor);
      show("signer", !minor);
    }
    show("scan-upload", evidence === "scan");
    var pad = document.getElementById("signature-pad");
    var wasHidden = pad.hidden;
    pad.hidden = evidence === "scan";
    if (wasHidden && !pad.hidden) { size(); }
  }
  form.addEventListener("change", toggle);
  form.addEventListener("submit", function () {
    if ((checked("evidence_kind") || "signature") === "signature" && inked > 0) {
      hidden.value = canvas.toDataURL("image/png");
    }
  });
  var width = window.innerWidth;
  window.addEventListener("resize", function () {
    // Phones fire resize when the keyboard opens; only a width change alters the pad.
    if (window.innerWidth !== width) { width = window.innerWidth; size(); }
  });
  toggle();
  size();
})();
