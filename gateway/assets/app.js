// Progressive enhancement for the server-rendered pages: results as you type, keyboard
// navigation, review shortcuts, jumping to a pasted child ID, printing. Every page works
// without this file.
(function () {
  "use strict";

  var CHILD_ID = /^[0-9A-Za-z]{4}[- ]?[0-9A-Za-z]{4}[- ]?[0-9A-Za-z]{4}[- ]?[0-9A-Za-z*~$=]$/;

  function typing(target) {
    var tag = target && target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable);
  }

  function hits() {
    return Array.prototype.slice.call(document.querySelectorAll(".hits .hit-link"));
  }

  function move(step) {
    var links = hits();
    if (!links.length) return;
    var current = links.indexOf(document.activeElement);
    var next = current < 0 ? (step > 0 ? 0 : links.length - 1) : Math.max(0, Math.min(links.length - 1, current + step));
    links[next].focus();
  }

  // Results as you type: the server renders the list (?fragment=1); this swaps it in.
  var form = document.getElementById("search-form");
  var results = document.getElementById("results");
  if (form && results) {
    var timer = null;
    var sequence = 0;
    var refresh = function () {
      var params = new URLSearchParams(new FormData(form));
      var query = params.toString();
      params.set("fragment", "1");
      var mine = ++sequence;
      fetch("/search?" + params.toString(), { credentials: "same-origin" })
        .then(function (response) {
          if (response.redirected || response.status === 401) { window.location = "/search?" + query; return null; }
          return response.text();
        })
        .then(function (html) {
          if (html === null || mine !== sequence) return;
          results.innerHTML = html;
          history.replaceState(null, "", "/search?" + query);
        })
        .catch(function () { /* the form still submits normally */ });
    };
    form.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(refresh, 250);
    });
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var search = document.getElementById("q");
    if (event.key === "/" && search && !typing(event.target)) {
      event.preventDefault();
      search.focus();
      search.select();
      return;
    }
    if (hits().length && (event.key === "ArrowDown" || event.key === "ArrowUp" ||
        (!typing(event.target) && (event.key === "j" || event.key === "k")))) {
      if (typing(event.target) && event.target !== search) return;
      event.preventDefault();
      move(event.key === "ArrowDown" || event.key === "j" ? 1 : -1);
      return;
    }
    // Review decisions: l, n, d choose; the reason field takes the focus; Enter submits.
    var decision = document.getElementById("decision-form");
    if (decision && !typing(event.target)) {
      var choice = decision.querySelector('input[data-key="' + event.key + '"]');
      if (choice) {
        event.preventDefault();
        choice.checked = true;
        document.getElementById("reason").focus();
      }
    }
  });

  // A child ID pasted anywhere (outside a text field other than search) opens that child;
  // the server checks the check character.
  document.addEventListener("paste", function (event) {
    var text = (event.clipboardData || window.clipboardData).getData("text").trim();
    if (!CHILD_ID.test(text)) return;
    if (typing(event.target) && event.target.id !== "q") return;
    event.preventDefault();
    window.location = "/go?id=" + encodeURIComponent(text);
  });

  Array.prototype.forEach.call(document.querySelectorAll("[data-print]"), function (link) {
    link.addEventListener("click", function (event) {
      event.preventDefault();
      window.print();
    });
  });
})();
