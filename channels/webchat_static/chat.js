// Web chat client: posts to this channel's webhook and renders the replies.
// Every text is inserted with textContent (or a text node), never as HTML, and
// links are only ever http(s), so nothing a message contains can run or inject.
(function () {
  "use strict";
  var log = document.getElementById("log");
  var form = document.getElementById("ask");
  var input = document.getElementById("message");
  var busy = document.getElementById("busy");
  var pending = 0;
  var uid = 0;
  var lastQuestion = null; // what the traveler last typed: sent along with feedback
  var SVG = "http://www.w3.org/2000/svg";
  // Material Design "thumb_up" icon (Apache-2.0).
  var THUMB_UP = "M1 21h4V9H1v12zm22-11c0-1.1-.9-2-2-2h-6.31l.95-4.57.03-.32c0-.41-.17-.79-.44-1.06" +
    "L14.17 1 7.59 7.59C7.22 7.95 7 8.45 7 9v10c0 1.1.9 2 2 2h9c.83 0 1.54-.5 1.84-1.22l3.02-7.05" +
    "c.09-.23.14-.47.14-.73v-2z";

  function newSender() {
    var id = window.crypto && window.crypto.randomUUID ? window.crypto.randomUUID()
      : Math.random().toString(36).slice(2) + Date.now().toString(36);
    return "web-" + id;
  }
  var sender = sessionStorage.getItem("travelbot-sender");
  if (!sender) {
    sender = newSender();
    sessionStorage.setItem("travelbot-sender", sender);
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function hidden(text) {
    return el("span", "visually-hidden", text);
  }

  // One turn of the conversation; screen readers hear who is speaking first.
  function turn(role, speaker) {
    var item = el("div", "msg " + role);
    item.appendChild(hidden(speaker + ": "));
    return item;
  }

  function show(item) {
    log.appendChild(item);
    item.scrollIntoView({ block: "end" });
  }

  function formatDate(iso) {
    var date = new Date(iso + "T00:00:00");
    if (isNaN(date.getTime())) return iso;
    return date.toLocaleDateString("en-US", { year: "numeric", month: "long", day: "numeric" });
  }

  function source(info) {
    var box = el("div", "source");
    if (/^https?:\/\//i.test(info.source_url || "")) {
      var p = el("p", "source-link");
      var a = el("a", null, "Source: " + (info.title || "TSA"));
      a.href = info.source_url;
      a.rel = "noopener noreferrer";
      a.target = "_blank";
      a.appendChild(hidden(" (opens in a new tab)"));
      p.appendChild(a);
      box.appendChild(p);
    }
    if (info.last_reviewed) {
      var reviewed = el("p", "reviewed", "Last reviewed: ");
      var time = el("time", null, formatDate(info.last_reviewed));
      time.dateTime = info.last_reviewed;
      reviewed.appendChild(time);
      box.appendChild(reviewed);
    }
    return box;
  }

  function choices(buttons, question) {
    var group = el("div", "choices");
    group.setAttribute("role", "group");
    group.setAttribute("aria-label", "Choose the question you meant");
    buttons.forEach(function (b) {
      var btn = el("button", "choice", b.title);
      btn.type = "button";
      btn.addEventListener("click", function () { send(b.payload, b.title, question); });
      group.appendChild(btn);
    });
    return group;
  }

  // A thumb icon drawn inline (no emoji font or image file needed); decorative only.
  function thumb(up) {
    var svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("class", "icon" + (up ? "" : " down"));
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    var path = document.createElementNS(SVG, "path");
    path.setAttribute("d", THUMB_UP);
    svg.appendChild(path);
    return svg;
  }

  function feedback(entryId, question) {
    var group = el("div", "feedback");
    var label = el("span", "feedback-label", "Was this answer helpful?");
    label.id = "feedback-label-" + (++uid);
    group.setAttribute("role", "group");
    group.setAttribute("aria-labelledby", label.id);
    group.appendChild(label);
    var thanks = el("p", "thanks");
    thanks.setAttribute("role", "status");
    var voting = false;
    var buttons = [[true, "Helpful"], [false, "Not helpful"]].map(function (v) {
      var btn = el("button", "vote");
      btn.type = "button";
      btn.setAttribute("aria-pressed", "false");
      btn.appendChild(thumb(v[0]));
      btn.appendChild(document.createTextNode(v[1]));
      btn.addEventListener("click", function () {
        if (voting) return;
        voting = true;
        vote(entryId, v[0], question).then(function () {
          buttons.forEach(function (other) {
            other[1].setAttribute("aria-pressed", other[0] === v[0] ? "true" : "false");
          });
          thanks.textContent = "Thanks for your feedback.";
        }).catch(function (err) {
          thanks.textContent = "Sorry, your feedback was not saved: " + err.message + ".";
        }).then(function () { voting = false; });
      });
      group.appendChild(btn);
      return [v[0], btn];
    });
    group.appendChild(thanks);
    return group;
  }

  function postJson(url, body) {
    return fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) {
        if (!r.ok) throw new Error(data.error || "HTTP " + r.status);
        return data;
      });
    });
  }

  function vote(entryId, helpful, question) {
    var body = { sender: sender, entry_id: entryId, helpful: helpful };
    if (question) body.question = question;
    return postJson("feedback", body);
  }

  // One reply from the bot: its text parts, then buttons and the metadata dict (last).
  function render(messages, question) {
    var item = turn("bot", "Assistant");
    var info = null;
    var buttons = null;
    messages.forEach(function (m) {
      if (m.text) item.appendChild(el("p", null, m.text));
      if (m.buttons && m.buttons.length) buttons = m.buttons;
      if (m.custom) info = m.custom;
    });
    if (item.childNodes.length === 1) {
      // A paused conversation (handed to a person) gets no bot reply.
      item.appendChild(el("p", null, "Your message is saved for the person who will take over this conversation."));
    }
    if (buttons) item.appendChild(choices(buttons, question));
    if (info && info.decision) item.classList.add(info.decision);
    if (info && info.decision === "answer" && info.entry_id) {
      item.appendChild(source(info));
      item.appendChild(feedback(info.entry_id, question));
    }
    show(item);
  }

  function setBusy(delta) {
    pending += delta;
    busy.textContent = pending > 0 ? "The assistant is answering\u2026" : "";
  }

  function send(message, shown, question) {
    var mine = turn("me", "You");
    mine.appendChild(el("p", null, shown || message));
    show(mine);
    setBusy(1);
    return postJson("webhook", { sender: sender, message: message }).then(function (reply) {
      render(Array.isArray(reply) ? reply : [], question);
    }).catch(function (err) {
      var item = turn("bot error", "Assistant");
      item.appendChild(el("p", null, "Sorry, something went wrong: " + err.message + ". Please try again."));
      show(item);
    }).then(function () { setBusy(-1); });
  }

  // Replies a person (a staff agent) sends while they have this conversation. They go into the
  // same live region as the bot's, so screen readers announce them too.
  var afterId = Number(sessionStorage.getItem("travelbot-agent-after") || "0");
  function showAgent(m) {
    var item = turn("bot agent", "Agent");
    item.appendChild(el("p", null, m.text));
    show(item);
    afterId = Math.max(afterId, m.id);
    sessionStorage.setItem("travelbot-agent-after", String(afterId));
  }
  function pollAgent() {
    fetch("updates?sender=" + encodeURIComponent(sender) + "&after=" + afterId, {
      headers: { Accept: "application/json" }
    }).then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.json();
    }).then(function (data) {
      (data.messages || []).forEach(showAgent);
    }).catch(function () { /* the next poll retries */ })
      .then(function () { window.setTimeout(pollAgent, 2000); });
  }
  window.setTimeout(pollAgent, 2000);

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    input.value = "";
    lastQuestion = text;
    send(text, text, text);
    input.focus();
  });
  document.getElementById("human").addEventListener("click", function () {
    send("/request_human", "Talk to a person", lastQuestion);
  });
})();
