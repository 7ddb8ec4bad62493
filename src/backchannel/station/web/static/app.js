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
      const response = await fetch(url, {
        credentials: "same-origin", cache: "no-store", redirect: "manual",
        headers: { "X-Backchannel-Poll": "1" },
      });
      if (response.status === 200 && !response.redirected) {
        const html = await response.text();
        thread.insertAdjacentHTML("beforeend", html);
        thread.dataset.after = response.headers.get("x-after") || thread.dataset.after;
        const empty = document.getElementById("empty");
        if (empty) empty.remove();
      } else if (response.status !== 204) {
        return; // signed out (401), a redirect, or an error: stop polling
      }
    } catch (error) {
      // the station is restarting or the network is down: try again later
    }
    window.setTimeout(poll, every);
  }

  window.setTimeout(poll, every);
})();

// Buttons that end someone's access ask first: <form data-confirm="question">.
document.addEventListener("submit", function (event) {
  const question = event.target.dataset && event.target.dataset.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
});
