// The pages' one script: progressive enhancement only. Every page works without it; with it,
// the ballot has a review step, confirmations are asked in the page, and live parts of a page
// (counts, the board) follow the server's events without a reload. It stores nothing: no
// cookie, no local or session storage, no history entry.
(function () {
  'use strict';

  // The ballot: "Review my choices" shows what was chosen, "Change" goes back. Nothing of
  // the choice leaves the form until it is submitted.
  function ballot(form) {
    var choose = form.querySelector('#choose');
    var panel = form.querySelector('#review-panel');
    var review = form.querySelector('#review');
    var list = form.querySelector('#review-list');
    if (!choose || !panel || !review || !list) { return; }
    review.hidden = false;
    review.addEventListener('click', function () {
      list.textContent = '';
      form.querySelectorAll('fieldset[data-subject]').forEach(function (set) {
        var row = document.createElement('div');
        var name = document.createElement('dt');
        var chosen = document.createElement('dd');
        name.textContent = set.querySelector('.name').textContent;
        var checked = set.querySelector('input:checked');
        if (checked) {
          chosen.textContent = checked.parentNode.textContent.trim();
        } else {
          chosen.textContent = list.getAttribute('data-not-marked');
          chosen.className = 'unmarked';
        }
        row.appendChild(name);
        row.appendChild(chosen);
        list.appendChild(row);
      });
      choose.hidden = true;
      panel.hidden = false;
      panel.querySelector('h2').focus();
    });
    form.querySelector('#change').addEventListener('click', function () {
      panel.hidden = true;
      list.textContent = '';
      choose.hidden = false;
      review.focus();
    });
    form.addEventListener('submit', function () {
      // One press sends it; a resubmission would carry the same command id anyway.
      form.querySelectorAll('button[type=submit]').forEach(function (b) { b.disabled = true; });
    });
  }

  // Live parts: <... data-live="/path/events"> follows server-sent events. An event "fields"
  // carries {name: text} for the elements [data-field=name] inside; an event "html" carries
  // a fragment the server drew, which replaces the element's content.
  function live(element) {
    if (!window.EventSource) { return; }
    var source = new EventSource(element.getAttribute('data-live'));
    source.addEventListener('fields', function (event) {
      var fields = JSON.parse(event.data);
      Object.keys(fields).forEach(function (name) {
        element.querySelectorAll('[data-field="' + name + '"]').forEach(function (target) {
          target.textContent = fields[name];
        });
      });
    });
    source.addEventListener('html', function (event) {
      element.innerHTML = event.data;
      element.setAttribute('data-updated', String(Date.now()));
    });
  }

  function start() {
    document.querySelectorAll('form[data-ballot]').forEach(ballot);
    document.querySelectorAll('[data-live]').forEach(live);
  }

  window.addEventListener('pageshow', function (event) {
    // A page restored from the back-forward cache is stale: ask the server again.
    if (event.persisted) { window.location.reload(); }
  });
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
}());
