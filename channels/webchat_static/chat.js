// Web chat client: posts to this channel's webhook and renders the replies.
// Every text is inserted with textContent, never as HTML.
(function () {
  "use strict";
  var log = document.getElementById("log");
  var form = document.getElementById("ask");
  var input = document.getElementById("message");
  var sender = sessionStorage.getItem("travelbot-sender");
  if (!sender) {
    sender = "web-" + Math.random().toString(36).slice(2) + Date.now().toString(36);
    sessionStorage.setItem("travelbot-sender", sender);
  }

  function add(role, text) {
    var li = document.createElement("li");
    li.className = role;
    li.textContent = text;
    log.appendChild(li);
    li.scrollIntoView({ block: "end" });
    return li;
  }

  function addSource(li, meta) {
    if (!meta || !meta.source_url) return;
    var span = document.createElement("span");
    span.className = "source";
    var a = document.createElement("a");
    a.href = meta.source_url;
    a.textContent = "Source: " + (meta.title || "TSA");
    a.rel = "noopener";
    a.target = "_blank";
    span.appendChild(a);
    span.appendChild(document.createTextNode(" (reviewed " + meta.last_reviewed + ")"));
    li.appendChild(span);
  }

  function addChoices(li, buttons) {
    var div = document.createElement("div");
    div.className = "choices";
    buttons.forEach(function (b) {
      var btn = document.createElement("button");
      btn.type = "button";
      btn.textContent = b.title;
      btn.addEventListener("click", function () { send(b.payload, b.title); });
      div.appendChild(btn);
    });
    li.appendChild(div);
  }

  function render(messages) {
    var last = null;
    messages.forEach(function (m) {
      if (m.text) {
        last = add("bot", m.text);
        if (m.buttons && m.buttons.length) addChoices(last, m.buttons);
      }
      if (m.custom && last) addSource(last, m.custom);
    });
  }

  function send(message, shown) {
    add("me", shown || message);
    return fetch("webhook", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ sender: sender, message: message })
    }).then(function (r) {
      return r.json().then(function (body) {
        if (!r.ok) throw new Error(body.error || ("HTTP " + r.status));
        render(body);
      });
    }).catch(function (err) {
      add("bot", "Sorry, something went wrong: " + err.message + ". Please try again.");
    });
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    input.value = "";
    send(text).then(function () { input.focus(); });
  });
  document.getElementById("human").addEventListener("click", function () {
    send("/request_human", "Talk to a person");
  });
})();
