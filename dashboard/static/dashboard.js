// payd console: progressive enhancement only. Every page works without it.
(function () {
  'use strict';
  // Copy buttons (hidden without JavaScript).
  document.querySelectorAll('button.copy[data-copy]').forEach(function (b) {
    b.hidden = false;
    var label = b.textContent;
    b.addEventListener('click', function () {
      if (!navigator.clipboard) { return; }
      navigator.clipboard.writeText(b.getAttribute('data-copy')).then(function () {
        b.textContent = '✓';
        setTimeout(function () { b.textContent = label; }, 1500);
      }, function () {});
    });
  });
  // A form is sent once: a double click does not create two invoices.
  document.querySelectorAll('form[method=post]').forEach(function (form) {
    form.addEventListener('submit', function () {
      setTimeout(function () {
        form.querySelectorAll('button[type=submit]').forEach(function (b) { b.disabled = true; });
      }, 0);
    });
  });
  // Filters apply on change.
  var f = document.getElementById('filters');
  if (f) {
    f.querySelectorAll('select').forEach(function (s) {
      s.addEventListener('change', function () { f.submit(); });
    });
  }
  // An invoice that is not final refreshes itself while the tab is visible.
  var st = document.getElementById('invoice-status');
  if (st && ['new', 'processing'].indexOf(st.getAttribute('data-status')) >= 0) {
    setInterval(function () {
      var open = document.querySelector('details[open]');
      if (document.visibilityState === 'visible' && !open) { location.reload(); }
    }, 5000);
  }
})();
