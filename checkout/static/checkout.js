// payd checkout: progressive enhancement of the server-rendered page.
// Without this script the page is complete (and refreshes itself from a
// <noscript> meta refresh). With it: method tabs, copy buttons, a live
// countdown, and live status from the public websocket /i/{id}/ws (falling
// back to polling /i/{id}/status); on a newer invoice the page content is
// fetched again and swapped in place, without a reload.
(function () {
  'use strict';

  var root = null;       // #checkout
  var invoiceID = '';
  var sequence = 0;
  var status = '';
  var selected = '';     // anchor of the selected method tab
  var deadline = 0;      // ms timestamp when the countdown reaches zero
  var tick = 0;
  var ws = null;
  var wsBackoff = 1000;
  var pollTimer = 0;
  var refreshing = false;
  var again = false;

  function $(sel, el) { return (el || document).querySelector(sel); }
  function $$(sel, el) { return Array.prototype.slice.call((el || document).querySelectorAll(sel)); }

  function announce(text) {
    var a = document.getElementById('announce');
    if (a) { a.textContent = text; }
  }

  // ---- tabs -----------------------------------------------------------
  function selectTab(anchor, focus) {
    var tabs = $$('.tab', root);
    if (!tabs.length) { return; }
    var found = tabs.some(function (t) { return t.getAttribute('data-panel') === anchor; });
    if (!found) { anchor = tabs[0].getAttribute('data-panel'); }
    selected = anchor;
    tabs.forEach(function (t) {
      var on = t.getAttribute('data-panel') === anchor;
      t.setAttribute('aria-selected', on ? 'true' : 'false');
      t.tabIndex = on ? 0 : -1;
      if (on && focus) { t.focus(); }
    });
    $$('.panel', root).forEach(function (p) { p.hidden = p.id !== anchor; });
  }

  function initTabs() {
    var list = $('#tabs', root);
    if (!list) { return; }
    var pay = list.parentNode;
    pay.classList.add('js-tabs');
    list.setAttribute('role', 'tablist');
    list.setAttribute('aria-labelledby', 'pay-title');
    $$('li', list).forEach(function (li) { li.setAttribute('role', 'presentation'); });
    var tabs = $$('.tab', list);
    tabs.forEach(function (t, i) {
      var anchor = t.getAttribute('data-panel');
      t.setAttribute('role', 'tab');
      t.setAttribute('aria-controls', anchor);
      var panel = document.getElementById(anchor);
      if (panel) {
        panel.setAttribute('role', 'tabpanel');
        panel.setAttribute('aria-labelledby', t.id);
        panel.tabIndex = 0;
      }
      t.addEventListener('click', function (e) {
        e.preventDefault();
        selectTab(anchor, true);
      });
      t.addEventListener('keydown', function (e) {
        var j = -1;
        if (e.key === 'ArrowRight' || e.key === 'ArrowDown') { j = (i + 1) % tabs.length; }
        if (e.key === 'ArrowLeft' || e.key === 'ArrowUp') { j = (i - 1 + tabs.length) % tabs.length; }
        if (e.key === 'Home') { j = 0; }
        if (e.key === 'End') { j = tabs.length - 1; }
        if (j >= 0) {
          e.preventDefault();
          selectTab(tabs[j].getAttribute('data-panel'), true);
        }
      });
    });
    var want = selected || (location.hash || '').slice(1);
    selectTab(want, false);
  }

  // ---- copy buttons ---------------------------------------------------
  function fallbackCopy(text) {
    var ta = document.createElement('textarea');
    ta.value = text;
    ta.setAttribute('readonly', '');
    ta.className = 'sr-only';
    document.body.appendChild(ta);
    ta.select();
    var ok = false;
    try { ok = document.execCommand('copy'); } catch (e) { ok = false; }
    document.body.removeChild(ta);
    return ok ? Promise.resolve() : Promise.reject(new Error('copy failed'));
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).catch(function () { return fallbackCopy(text); });
    }
    return fallbackCopy(text);
  }

  function initCopy() {
    $$('button.copy', root).forEach(function (b) {
      b.hidden = false;
      var label = b.textContent;
      b.addEventListener('click', function () {
        copyText(b.getAttribute('data-copy')).then(function () {
          b.textContent = root.getAttribute('data-copied');
          b.classList.add('done');
          announce(root.getAttribute('data-copied'));
          setTimeout(function () { b.textContent = label; b.classList.remove('done'); }, 2000);
        }, function () {
          announce(root.getAttribute('data-copy-failed'));
        });
      });
    });
  }

  // ---- countdown ------------------------------------------------------
  function fmt(s) {
    var h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60, sec = s % 60;
    var pad = function (n) { return n < 10 ? '0' + n : String(n); };
    return h > 0 ? h + ':' + pad(m) + ':' + pad(sec) : m + ':' + pad(sec);
  }

  function initCountdown() {
    clearInterval(tick);
    var el = $('#countdown', root);
    if (!el) { return; }
    var left = parseInt(root.getAttribute('data-seconds-left'), 10) || 0;
    deadline = Date.now() + left * 1000;
    var update = function () {
      var s = Math.max(0, Math.round((deadline - Date.now()) / 1000));
      el.textContent = s > 0 ? fmt(s) : root.getAttribute('data-time-up');
      if (s === 0) {
        clearInterval(tick);
        // the server expires the invoice; look again shortly
        setTimeout(refresh, 3000);
      }
    };
    update();
    tick = setInterval(update, 1000);
  }

  // ---- live updates ---------------------------------------------------
  function isFinal() { return root.getAttribute('data-final') === 'true'; }

  function init() {
    root = document.getElementById('checkout');
    if (!root) { return false; }
    invoiceID = root.getAttribute('data-invoice');
    sequence = parseInt(root.getAttribute('data-sequence'), 10) || 0;
    status = root.getAttribute('data-status');
    initTabs();
    initCopy();
    initCountdown();
    return true;
  }

  // refresh fetches the page again and swaps the invoice content in place.
  function refresh() {
    if (refreshing) { again = true; return; }
    refreshing = true;
    fetch(location.pathname + location.search, {
      headers: { 'Accept': 'text/html' },
      cache: 'no-store',
      credentials: 'same-origin'
    }).then(function (r) {
      if (!r.ok) { throw new Error('status ' + r.status); }
      return r.text();
    }).then(function (html) {
      var doc = new DOMParser().parseFromString(html, 'text/html');
      var next = doc.getElementById('checkout');
      if (!next) { return; }
      var nextSeq = parseInt(next.getAttribute('data-sequence'), 10) || 0;
      if (nextSeq < sequence) { return; }
      var oldStatus = status;
      var fresh = document.importNode(next, true);
      root.parentNode.replaceChild(fresh, root);
      document.title = doc.title;
      init();
      if (status !== oldStatus) {
        var h = $('#state-title', root);
        if (h) { announce(h.textContent); }
      }
      if (isFinal()) { stopLive(); }
    }).catch(function () {
      // keep the page as it is; the next message or poll tries again
    }).then(function () {
      refreshing = false;
      if (again) { again = false; refresh(); }
    });
  }

  function onInvoice(inv) {
    if (!inv || inv.id !== invoiceID) { return; }
    var seq = inv.sequence || 0;
    if (seq > sequence || (seq === sequence && inv.status !== status)) {
      refresh();
    }
  }

  function startPolling() {
    if (pollTimer || isFinal()) { return; }
    pollTimer = setInterval(function () {
      fetch('/i/' + encodeURIComponent(invoiceID) + '/status', { cache: 'no-store', headers: { 'Accept': 'application/json' } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(onInvoice)
        .catch(function () {});
    }, 5000);
  }

  function stopPolling() {
    clearInterval(pollTimer);
    pollTimer = 0;
  }

  function stopLive() {
    stopPolling();
    if (ws) {
      var w = ws;
      ws = null;
      try { w.close(1000); } catch (e) { /* already closed */ }
    }
  }

  function connect() {
    if (isFinal() || !('WebSocket' in window)) { startPolling(); return; }
    var url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host +
      '/i/' + encodeURIComponent(invoiceID) + '/ws';
    var sock;
    try { sock = new WebSocket(url); } catch (e) { startPolling(); return; }
    ws = sock;
    sock.onopen = function () { wsBackoff = 1000; stopPolling(); };
    sock.onmessage = function (e) {
      var msg;
      try { msg = JSON.parse(e.data); } catch (err) { return; }
      if (msg && msg.type === 'invoice') { onInvoice(msg.invoice); }
    };
    sock.onclose = function () {
      if (ws !== sock) { return; }
      ws = null;
      if (isFinal()) { return; }
      startPolling();
      setTimeout(connect, wsBackoff);
      wsBackoff = Math.min(wsBackoff * 2, 60000);
    };
  }

  function start() {
    if (!init()) { return; }
    if (!isFinal()) { connect(); }
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
}());
