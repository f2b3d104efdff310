// Every logged-in page: live alert count and queue over server-sent events, session expiry.
// No inline script anywhere (the pages' Content-Security-Policy forbids it); texts come from #ui-text.
(function () {
  "use strict";

  const body = document.body;
  const streamUrl = body.dataset.alertStream;
  const loginUrl = body.dataset.login;
  const textNode = document.getElementById("ui-text");
  const text = textNode ? JSON.parse(textNode.textContent) : {};
  let lastVersion = null;

  function announce(message) {
    const region = document.getElementById("live-status");
    if (region) {
      region.textContent = "";
      window.setTimeout(() => { region.textContent = message; }, 50);
    }
  }

  function onAlerts(state) {
    const badge = document.getElementById("nav-alert-count");
    if (badge) {
      badge.textContent = String(state.unresolved);
      badge.classList.toggle("zero", state.unresolved === 0);
    }
    const queue = document.getElementById("alert-queue");
    const known = queue ? queue.dataset.version : lastVersion;
    if (queue && state.version !== known && window.htmx) {
      window.htmx.trigger(queue, "refresh");
    }
    if (lastVersion !== null && state.version !== lastVersion && text["alerts.updated"]) {
      announce(text["alerts.updated"]);
    }
    lastVersion = state.version;
  }

  function connect() {
    if (!streamUrl || !window.EventSource) {
      return;
    }
    const source = new EventSource(streamUrl);
    source.addEventListener("alerts", (event) => onAlerts(JSON.parse(event.data)));
    source.addEventListener("expired", () => {
      source.close();
      window.location.assign(loginUrl);
    });
    source.addEventListener("error", () => {
      // EventSource reconnects by itself after a dropped connection; a refused one stays closed.
      if (source.readyState === EventSource.CLOSED) {
        window.setTimeout(connect, 5000);
      }
    });
  }

  // htmx: a session that expired while the page was open comes back as HX-Redirect to the login page.
  document.addEventListener("htmx:afterSwap", (event) => {
    if (event.detail.target && event.detail.target.id === "alert-queue") {
      const queue = document.getElementById("alert-queue");
      if (queue) {
        lastVersion = queue.dataset.version;
      }
    }
  });

  connect();
})();
