// Staff console: keeps the inbox and a conversation current by polling small JSON endpoints.
// Everything a traveler or agent wrote is inserted with textContent, never as HTML.
(function () {
  "use strict";
  var notify = document.getElementById("notify");
  var baseTitle = document.title;

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function poll(url, every, handle) {
    function tick() {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) {
          if (r.status === 401) { window.location.reload(); throw new Error("signed out"); }
          if (!r.ok) throw new Error("HTTP " + r.status);
          return r.json();
        })
        .then(handle)
        .catch(function () { /* the next tick retries */ })
        .then(function () { window.setTimeout(tick, every); });
    }
    window.setTimeout(tick, every);
  }

  // --- inbox ----------------------------------------------------------------------------------
  var inbox = document.getElementById("inbox");
  if (inbox) {
    // Ids of the waiting handoffs the agent has seen: those on the page as served, then each poll's.
    var known = (inbox.getAttribute("data-waiting-ids") || "").split(" ").filter(Boolean).map(Number);
    var link = inbox.getAttribute("data-link");
    var render = function (data) {
      var body = inbox.tBodies[0];
      var rows = data.cases.map(function (c) {
        var tr = el("tr", c.urgent ? "urgent" : "");
        var a = el("a", null, c.id);
        a.href = link.replace(/0$/, String(c.id));
        var first = el("td");
        first.appendChild(a);
        tr.appendChild(first);
        [c.urgent ? "URGENT" : "", c.channel, c.reason, Math.floor(c.waiting_s / 60) + " min",
          c.last_message, c.agent || ""].forEach(function (v, i) {
          tr.appendChild(el("td", i === 4 ? "last" : null, v));
        });
        return tr;
      });
      if (!rows.length) {
        var tr = el("tr", "empty");
        var td = el("td", null, "Nothing here.");
        td.colSpan = 7;
        tr.appendChild(td);
        rows.push(tr);
      }
      body.replaceChildren.apply(body, rows);
      Object.keys(data.counts).forEach(function (name) {
        var span = document.querySelector('[data-count="' + name + '"]');
        if (span) span.textContent = data.counts[name];
      });
      var fresh = data.waiting_ids.filter(function (id) { return known.indexOf(id) < 0; });
      known = data.waiting_ids;
      if (fresh.length) {
        notify.textContent = fresh.length === 1 ? "New handoff waiting: #" + fresh[0]
          : fresh.length + " new handoffs waiting";
        document.title = "(" + data.counts.waiting + ") " + baseTitle;
      }
    };
    poll(inbox.getAttribute("data-api"), Number(inbox.getAttribute("data-poll-ms")) || 2000, render);
  }

  // --- conversation ---------------------------------------------------------------------------
  var transcript = document.getElementById("transcript");
  if (transcript) {
    var shown = transcript.children.length;
    var statusText = document.getElementById("status");
    var startStatus = statusText ? statusText.textContent : "";
    var list = function (id, items, withDelivery) {
      var ol = document.getElementById(id);
      if (!ol) return;
      ol.replaceChildren.apply(ol, items.map(function (m) {
        var li = el("li");
        li.appendChild(el("span", "speaker", m.author + ":"));
        li.appendChild(document.createTextNode(" "));
        li.appendChild(el("span", "text", m.text));
        if (withDelivery) li.appendChild(el("span", "delivery", " (" + m.delivery + ")"));
        return li;
      }));
    };
    var update = function (data) {
      var lines = data.transcript;
      if (lines.length < shown) shown = 0;
      if (shown === 0) transcript.replaceChildren();
      lines.slice(shown).forEach(function (line) {
        var li = el("li", "line " + line.role);
        li.appendChild(el("span", "speaker", (line.role === "agent" ? line.agent + " (agent)" : line.role) + ":"));
        li.appendChild(document.createTextNode(" "));
        li.appendChild(el("span", "text", line.text));
        transcript.appendChild(li);
      });
      shown = lines.length;
      list("notes", data.notes, false);
      list("replies", data.replies, true);
      var now = data.case.status + (data.case.agent ? " (" + data.case.agent + ")" : "");
      if (statusText && now !== statusText.textContent) {
        statusText.textContent = now;
        if (now !== startStatus) notify.textContent = "Status changed: " + now + ". Reload to act on it.";
      }
    };
    poll(transcript.getAttribute("data-api"), Number(transcript.getAttribute("data-poll-ms")) || 2000, update);
  }
})();
