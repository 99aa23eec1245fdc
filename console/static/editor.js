// FAQ editor: a live reading grade (and SMS length) under the two answer boxes while the editor types.
// The grade comes from the server (knowledge/validate.py's reading_grade, the rule `travelbot validate`
// applies), asked at most once per pause in typing. Results are shown with textContent only.
(function () {
  "use strict";
  var form = document.getElementById("entry-form");
  if (!form) return;
  var url = form.getAttribute("data-readability");
  var tokenInput = form.querySelector("input[name='csrf_token']");
  var token = tokenInput ? tokenInput.value : "";
  var PAUSE_MS = 400;

  function describe(data) {
    var text = "Reading grade " + data.grade.toFixed(1) + " (at most " + data.limit + ")";
    text += data.ok ? ": OK" : ": too hard, use shorter sentences and simpler words";
    if (data.max_chars !== undefined) {
      text += ". " + data.chars + " of " + data.max_chars + " characters";
      if (data.chars > data.max_chars) text += ": too long";
    }
    return text + ".";
  }

  function watch(name) {
    var box = document.getElementById(name);
    var out = document.getElementById("grade-" + name);
    if (!box || !out) return;
    var timer = null;
    var asked = 0;

    function ask() {
      var mine = ++asked;
      fetch(url, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": token, Accept: "application/json" },
        body: JSON.stringify({ field: name, text: box.value })
      })
        .then(function (r) {
          if (!r.ok) throw new Error("HTTP " + r.status);
          return r.json();
        })
        .then(function (data) {
          if (mine !== asked) return; // an answer to an older text: a newer question is on its way
          out.textContent = describe(data);
          out.setAttribute("data-ok", data.ok && !(data.chars > data.max_chars) ? "yes" : "no");
        })
        .catch(function () {
          if (mine === asked) out.textContent = "Reading grade unavailable right now (checked again on save).";
        });
    }

    box.addEventListener("input", function () {
      if (timer) window.clearTimeout(timer);
      timer = window.setTimeout(ask, PAUSE_MS);
    });
    ask();
  }

  watch("answer");
  watch("answer_sms");
})();
