// A form is sent once: a second tap while the first is on its way (a slow phone, a double tap)
// is ignored, so a consent, a person or a withdrawal is never recorded twice by accident.
// Forms whose own script sends them (uploads) are left alone; a form whose answer is a download
// (the page stays) can be sent again after a few seconds, and one shown again from the
// browser's history can be sent at once.
(function () {
  "use strict";
  var AGAIN_AFTER_MS = 8000;
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (event.defaultPrevented || !(form instanceof HTMLFormElement)) { return; }
    var sent = Number(form.dataset.sentAt || 0);
    if (sent && Date.now() - sent < AGAIN_AFTER_MS) {
      event.preventDefault();
      return;
    }
    form.dataset.sentAt = String(Date.now());
    form.setAttribute("aria-busy", "true");
  });
  window.addEventListener("pageshow", function () {
    var forms = document.querySelectorAll("form[data-sent-at]");
    for (var i = 0; i < forms.length; i++) {
      delete forms[i].dataset.sentAt;
      forms[i].removeAttribute("aria-busy");
    }
  });
})();
