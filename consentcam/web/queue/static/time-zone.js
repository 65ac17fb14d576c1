// The time is meant in the owner's own time zone.
(function () {
  var tz = document.getElementById('time_zone');
  try { if (tz) tz.value = Intl.DateTimeFormat().resolvedOptions().timeZone || tz.value; } catch (e) {}
})();
