// backchannel: the one script of the web UI. No inline code, no third parties.
// On a channel's thread it asks every few seconds for items that arrived since the
// newest one shown, and appends them; the server sends HTML it has already escaped.
"use strict";

(function () {
  const thread = document.getElementById("thread");
  if (!thread || !thread.dataset.poll) return;
  const every = 2000;

  async function poll() {
    const url = thread.dataset.poll + "?after=" + encodeURIComponent(thread.dataset.after || "0");
    try {
      const response = await fetch(url, { credentials: "same-origin", cache: "no-store" });
      if (response.status === 200) {
        const html = await response.text();
        thread.insertAdjacentHTML("beforeend", html);
        thread.dataset.after = response.headers.get("x-after") || thread.dataset.after;
        const empty = document.getElementById("empty");
        if (empty) empty.remove();
      } else if (response.status === 401 || response.status === 303) {
        return; // signed out: stop polling
      }
    } catch (error) {
      // the station is restarting or the network is down: try again later
    }
    window.setTimeout(poll, every);
  }

  window.setTimeout(poll, every);
})();
