// backchannel: the one script of the web UI. No inline code, no third parties.
//
// - The live feed (server-sent events from /events, web/live.py) appends new items to
//   the thread, updates delivery and acknowledgement states, and keeps the counts of
//   what needs the officer in the header and the tab's title. Where there is no
//   EventSource, or the stream keeps failing while the session is good, the thread is
//   polled instead (/channels/<id>/since), with a growing pause after errors.
// - When the feed stops, or the session has ended, a warning says so.
// - Browser notifications (opt-in, on the settings page) for items addressed to the
//   officer's role, naming no content.
// - Drafts: a form marked data-draft is kept at the station as it is typed.
// - Files on the compose form: chosen or dropped, hashed, staged at the station in
//   chunks; the form then names each staged upload. Previews that do not load hide.
// - Keyboard shortcuts, with a help overlay on "?".
// The server sends HTML it has already escaped; nothing here builds markup from data.
"use strict";

(function () {
  const body = document.body;
  const thread = document.getElementById("thread");
  const warning = document.getElementById("live-warning");
  const baseTitle = document.title;
  const POLL_EVERY = 2000;
  const MOST_PAUSE = 30000;

  function warn(text, withSignIn) {
    if (!warning) return;
    warning.textContent = text + " ";
    if (withSignIn) {
      const link = document.createElement("a");
      link.href = "/login";
      link.textContent = "Sign in again";
      warning.appendChild(link);
    }
    warning.hidden = false;
  }

  function unwarn() {
    if (warning) warning.hidden = true;
  }

  // -- what arrives -----------------------------------------------------------------

  function addItems(html, after) {
    if (!thread) return;
    const before = new Set(Array.from(thread.querySelectorAll("li.entry"), (li) => li.id));
    thread.insertAdjacentHTML("beforeend", html);
    thread.dataset.after = String(after);
    const empty = document.getElementById("empty");
    if (empty) empty.remove();
    const added = Array.from(thread.querySelectorAll("li.entry")).filter((li) => !before.has(li.id));
    added.forEach((li) => li.classList.add("arrived"));
    notify(added);
  }

  function setStates(states) {
    if (!thread) return;
    for (const [hash, state] of Object.entries(states)) {
      const li = document.getElementById("i-" + hash);
      if (!li) continue;
      const delivery = li.querySelector('[data-live="delivery"]');
      if (delivery && (state === "delivered" || state === "acknowledged")) {
        delivery.textContent = "delivered";
        delivery.className = "badge ok state-delivery";
      }
      const ack = li.querySelector('[data-live="ack"]');
      if (ack && state === "acknowledged") {
        ack.textContent = "acknowledged";
        ack.className = "badge ok state-ack";
        ack.hidden = false;
        const form = li.querySelector('[data-live="ack-form"]');
        if (form) form.remove();
      }
    }
  }

  function setNeeds(needs) {
    const total = (needs.unread || 0) + (needs.awaiting || 0);
    document.title = total ? "(" + total + ") " + baseTitle : baseTitle;
    count("count-unread", needs.unread, 'a[href="/channels"]', "unread");
    count("count-awaiting", needs.awaiting, 'a[href="/due"]', "awaiting your answer");
  }

  function count(id, n, where, title) {
    let badge = document.getElementById(id);
    if (!n) {
      if (badge) badge.remove();
      return;
    }
    if (!badge) {
      const link = document.querySelector("header nav " + where);
      if (!link) return;
      badge = document.createElement("span");
      badge.id = id;
      badge.className = "count";
      badge.title = title;
      link.append(" ", badge);
    }
    badge.textContent = n > 999 ? "999+" : String(n);
  }

  // -- the feed, and its fallback ---------------------------------------------------

  async function signedIn() {
    try {
      const response = await fetch("/session", {
        credentials: "same-origin", cache: "no-store", redirect: "manual",
        headers: { "X-Backchannel-Poll": "1" },
      });
      if (response.status === 204) return true;
      if (response.status === 401 || response.type === "opaqueredirect") return false;
      return null; // a proxy's 502, the station's 503: we do not know
    } catch (error) {
      return null; // the station cannot be reached: we do not know
    }
  }

  function live() {
    const url = body.dataset.live;
    if (!url) return;
    if (!window.EventSource) return poll(POLL_EVERY);
    const source = new EventSource(url, { withCredentials: true });
    let failures = 0;
    source.addEventListener("open", () => { failures = 0; unwarn(); });
    source.addEventListener("items", (event) => {
      const data = JSON.parse(event.data);
      addItems(data.html, data.after);
    });
    source.addEventListener("states", (event) => setStates(JSON.parse(event.data)));
    source.addEventListener("needs", (event) => setNeeds(JSON.parse(event.data)));
    source.addEventListener("ended", () => {
      source.close();
      warn("Your session has ended: nothing new will appear on this page.", true);
    });
    source.addEventListener("error", async () => {
      failures += 1;
      if (source.readyState !== EventSource.CLOSED && failures < 3) return; // it retries
      const state = await signedIn();
      if (state === false) {
        source.close();
        warn("Your session has ended: nothing new will appear on this page.", true);
      } else if (source.readyState === EventSource.CLOSED) {
        warn("Live updates stopped; this page is checked every few seconds instead.", false);
        if (thread) poll(POLL_EVERY);
      } else {
        warn("Live updates are interrupted: reconnecting…", false);
      }
    });
  }

  async function poll(pause) {
    if (!thread || !thread.dataset.poll) return;
    const url = thread.dataset.poll + "?after=" + encodeURIComponent(thread.dataset.after || "0");
    let next = POLL_EVERY;
    try {
      const response = await fetch(url, {
        credentials: "same-origin", cache: "no-store", redirect: "manual",
        headers: { "X-Backchannel-Poll": "1" },
      });
      if (response.status === 200 && response.type !== "opaqueredirect") {
        addItems(await response.text(), response.headers.get("x-after") || thread.dataset.after);
        unwarn();
      } else if (response.status === 204) {
        unwarn();
      } else if (response.status === 401 || response.type === "opaqueredirect") {
        warn("Your session has ended: nothing new will appear on this page.", true);
        return;
      } else {
        next = Math.min(pause * 2, MOST_PAUSE); // a proxy's 502 during a restart, a 503
        warn("The station did not answer; trying again…", false);
      }
    } catch (error) {
      next = Math.min(pause * 2, MOST_PAUSE); // restarting, or the network is down
      warn("The station cannot be reached; trying again…", false);
    }
    window.setTimeout(() => poll(next), next);
  }

  // -- notifications ----------------------------------------------------------------

  const NOTIFY_KEY = "backchannel-notify";

  function notify(added) {
    if (!window.Notification || Notification.permission !== "granted") return;
    if (localStorage.getItem(NOTIFY_KEY) !== "on" || !document.hidden) return;
    const mine = added.filter((li) => li.dataset.toRole === body.dataset.role);
    if (!mine.length) return;
    const heading = document.querySelector("main h1");
    const from = heading && heading.firstChild ? heading.firstChild.textContent.trim() : "";
    const words = mine.length === 1 ? "A new item" : mine.length + " new items";
    new Notification("backchannel", {
      body: words + " for your role (" + body.dataset.role + ")" + (from ? " from " + from : ""),
      tag: "backchannel-" + (thread ? thread.dataset.channel : "station"),
    });
  }

  function notifySettings() {
    const toggle = document.getElementById("notify-toggle");
    const said = document.getElementById("notify-state");
    if (!toggle || !said) return;
    function show() {
      const on = localStorage.getItem(NOTIFY_KEY) === "on" && window.Notification
        && Notification.permission === "granted";
      toggle.textContent = on ? "Stop notifying me" : "Notify me in this browser";
      toggle.dataset.state = on ? "on" : "off";
      said.textContent = !window.Notification ? "This browser does not offer notifications."
        : Notification.permission === "denied" ? "This browser refuses notifications for this station."
        : on ? "Notifications are on in this browser." : "Notifications are off.";
    }
    toggle.addEventListener("click", async () => {
      if (toggle.dataset.state === "on") {
        localStorage.removeItem(NOTIFY_KEY);
      } else if (window.Notification && (await Notification.requestPermission()) === "granted") {
        localStorage.setItem(NOTIFY_KEY, "on");
      }
      show();
    });
    show();
  }

  // -- drafts -----------------------------------------------------------------------

  // The station's one-line reason (its JSON error), or the status it answered.
  async function refusal(response) {
    try {
      const answer = await response.json();
      const said = answer.error || answer.detail;
      if (typeof said === "string" && said) return said.replace(/\.?$/, ".");
    } catch (error) { /* not JSON: a proxy's page */ }
    return "the station answered " + response.status + ".";
  }

  function drafts() {
    const form = document.querySelector("form[data-draft]");
    if (!form) return;
    const said = document.getElementById("draft-state");
    const url = "/drafts/" + encodeURIComponent(form.dataset.draft);
    let timer = null;
    let dirty = false;
    function fields() {
      const data = new FormData(form);
      data.delete("attachment"); // an upload is staged for one sending, not for a draft
      return new URLSearchParams(data);
    }
    async function keep() {
      timer = null;
      dirty = false;
      try {
        const response = await fetch(url, {
          method: "POST", credentials: "same-origin", body: fields(),
          headers: { "X-Backchannel-Poll": "1" },
        });
        if (said) said.textContent = response.status === 204
          ? "Draft kept at " + new Date().toLocaleTimeString() + "."
          : "The draft could not be kept: " + await refusal(response);
      } catch (error) {
        if (said) said.textContent = "The draft could not be kept: the station cannot be reached.";
      }
    }
    form.addEventListener("input", () => {
      dirty = true;
      if (timer) window.clearTimeout(timer);
      timer = window.setTimeout(keep, 700);
    });
    form.addEventListener("submit", () => {
      if (timer) window.clearTimeout(timer);
      dirty = false;
    });
    window.addEventListener("pagehide", () => {
      if (dirty && navigator.sendBeacon) navigator.sendBeacon(url, fields());
    });
  }

  // -- files on the compose form -----------------------------------------------------

  // Each file is hashed (SHA-256 with crypto.subtle, which has no streaming digest: the
  // whole file is read at once, within the station's limit), begun at /api/v1/uploads
  // and put in chunks of 1 MiB, in order, one file after the other. Once the station
  // says it is staged, a hidden input names it in the form; until every file is,
  // the form is not sent.
  const CHUNK_BYTES = 1024 * 1024;
  const KEPT_KEY = "backchannel-uploads"; // names of staged files, for a form sent back

  class Refused extends Error {}

  // As the pages write sizes (pages.py, size_text): "142 B", "1.5 KiB", "100 MiB".
  function sizeText(n) {
    if (n < 1024) return n + " B";
    const units = ["KiB", "MiB", "GiB"];
    let value = n / 1024;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
    return value.toFixed(1).replace(/\.0$/, "") + " " + units[unit];
  }

  async function sha256(file) {
    if (!window.crypto || !crypto.subtle) {
      throw new Refused("this page cannot hash files: open the station over HTTPS.");
    }
    const digest = await crypto.subtle.digest("SHA-256", await file.arrayBuffer());
    return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function attachments() {
    const box = document.getElementById("attach");
    if (!box) return;
    const form = box.closest("form");
    const input = document.getElementById("files");
    const zone = document.getElementById("dropzone");
    const list = document.getElementById("attach-list");
    const send = form.querySelector('button[type="submit"]');
    const sendState = document.getElementById("send-state");
    const csrf = form.querySelector('input[name="csrf"]').value;
    const maxBytes = Number(box.dataset.maxBytes) || Infinity;
    const maxFiles = Number(box.dataset.maxFiles) || 16;
    const kept = JSON.parse(sessionStorage.getItem(KEPT_KEY) || "{}");
    let busy = 0;
    let queue = Promise.resolve();
    box.hidden = false;

    function setBusy(step) {
      busy += step;
      send.disabled = busy > 0;
      sendState.textContent = busy > 0 ? "Sending waits until every file is uploaded." : "";
    }

    async function call(method, url, body, type, signal) {
      let response;
      try {
        response = await fetch(url, {
          method, body, signal, credentials: "same-origin", cache: "no-store",
          headers: { "Content-Type": type, "X-CSRF-Token": csrf },
        });
      } catch (error) {
        if (signal.aborted) throw error;
        throw new Refused("the station cannot be reached; try again.");
      }
      if (!response.ok) throw new Refused(await refusal(response));
      return response.json();
    }

    function part(tag, className, text) {
      const node = document.createElement(tag);
      node.className = className;
      if (text !== undefined) node.textContent = text;
      return node;
    }

    function row(file) {
      const li = part("li", "file");
      const bar = part("progress", "progress");
      bar.max = 1;
      bar.value = 0;
      bar.setAttribute("aria-label", "Upload of " + file.name);
      const state = part("span", "state", "Waiting…");
      const remove = part("button", "small secondary", "Remove");
      remove.type = "button";
      remove.setAttribute("aria-label", "Remove " + file.name);
      li.append(part("span", "name", file.name), " ",
        part("span", "small muted", sizeText(file.size)), " ", bar, " ", state, " ", remove);
      list.append(li);
      return { li, bar, state, remove };
    }

    function staged(li, upload) {
      const hidden = document.createElement("input");
      hidden.type = "hidden";
      hidden.name = "attachment";
      hidden.value = upload.upload_id;
      li.append(hidden);
      li.classList.add("staged");
      li.dataset.upload = upload.upload_id;
    }

    async function upload(file, shown, signal) {
      if (!file.size) throw new Refused(file.name + " is empty: there is nothing to send.");
      if (file.size > maxBytes) {
        throw new Refused(file.name + " is " + sizeText(file.size) + ": a file is at most "
          + sizeText(maxBytes) + " at this station.");
      }
      shown.state.textContent = "Checking the file…";
      shown.bar.removeAttribute("value"); // under way, for as long as hashing takes
      const digest = await sha256(file);
      const begun = await call("POST", "/api/v1/uploads",
        JSON.stringify({ name: file.name, size: file.size, digest }), "application/json", signal);
      let at = begun;
      for (let index = 0; index < begun.chunks; index += 1) {
        const piece = file.slice(index * CHUNK_BYTES, (index + 1) * CHUNK_BYTES);
        at = await call("PUT", "/api/v1/uploads/" + begun.upload_id + "/chunks/" + index,
          piece, "application/octet-stream", signal);
        shown.bar.value = (index + 1) / begun.chunks;
        shown.state.textContent = "Uploading: " + sizeText(Math.min(file.size,
          (index + 1) * CHUNK_BYTES)) + " of " + sizeText(file.size);
      }
      if (at.state !== "staged") throw new Refused("the station did not stage it (" + at.state + ").");
      return at;
    }

    function take(files) {
      const counted = list.querySelectorAll("li.file:not(.refused)").length;
      Array.from(files).forEach((file, n) => {
        const shown = row(file);
        const aborted = new AbortController();
        let running = true;
        shown.remove.addEventListener("click", () => {
          aborted.abort();
          shown.li.remove();
          if (running) { running = false; setBusy(-1); }
        });
        setBusy(1);
        queue = queue.then(async () => {
          if (aborted.signal.aborted) return;
          try {
            if (counted + n >= maxFiles) {
              throw new Refused("a message carries at most " + maxFiles + " files.");
            }
            const done = await upload(file, shown, aborted.signal);
            staged(shown.li, done);
            shown.bar.remove();
            shown.state.textContent = "Ready to send (" + done.media_type + ").";
          } catch (error) {
            if (aborted.signal.aborted) return;
            shown.li.classList.add("refused");
            shown.bar.remove();
            shown.state.setAttribute("role", "alert");
            shown.state.textContent = "Not attached: " + (error instanceof Refused
              ? error.message : "the file could not be read.");
            shown.remove.textContent = "Dismiss";
            shown.remove.setAttribute("aria-label", "Dismiss " + file.name);
          } finally {
            if (running) { running = false; setBusy(-1); }
          }
        });
      });
    }

    // Files the form was sent back with (it was refused): named from this tab's record.
    list.querySelectorAll("li[data-upload]").forEach((li) => {
      const known = kept[li.dataset.upload];
      if (known) li.querySelector(".name").textContent = known;
      li.querySelector("[data-remove]").addEventListener("click", () => li.remove());
    });
    input.addEventListener("change", () => {
      take(input.files);
      input.value = ""; // the same file may be chosen again after a removal
    });
    zone.addEventListener("dragover", (event) => {
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
      zone.classList.add("over");
    });
    zone.addEventListener("dragleave", (event) => {
      if (!zone.contains(event.relatedTarget)) zone.classList.remove("over");
    });
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      zone.classList.remove("over");
      take(event.dataTransfer.files);
    });
    // A file dropped beside the zone must not open in place of the page (and the text).
    for (const kind of ["dragover", "drop"]) {
      window.addEventListener(kind, (event) => {
        if (event.dataTransfer && Array.from(event.dataTransfer.types).includes("Files")) {
          event.preventDefault();
        }
      });
    }
    form.addEventListener("submit", (event) => {
      if (busy > 0) {
        event.preventDefault();
        return;
      }
      const names = {};
      list.querySelectorAll("li.staged[data-upload]").forEach((li) => {
        names[li.dataset.upload] = li.querySelector(".name").textContent;
      });
      sessionStorage.setItem(KEPT_KEY, JSON.stringify(names));
    });
  }

  // A preview is drawn by the station; one that does not load is left out, not broken.
  function previews() {
    const hide = (img) => { img.hidden = true; };
    document.querySelectorAll("img.preview").forEach((img) => {
      if (img.complete && img.naturalWidth === 0) hide(img);
    });
    document.addEventListener("error", (event) => {
      const img = event.target;
      if (img instanceof HTMLImageElement && img.classList.contains("preview")) hide(img);
    }, true);
  }

  // -- where the thread opens -------------------------------------------------------

  function openThread() {
    if (!thread || window.location.hash) return;
    const unread = document.getElementById("unread");
    const entries = thread.querySelectorAll("li.entry");
    const target = unread || entries[entries.length - 1];
    if (!target) return;
    target.scrollIntoView({ block: unread ? "start" : "end" });
    if (unread) unread.focus({ preventScroll: true });
  }

  // -- keyboard ---------------------------------------------------------------------

  function keyboard() {
    const help = document.getElementById("help");
    let chosen = null;
    let pendingG = false;
    function choose(step) {
      if (!thread) return;
      const entries = Array.from(thread.querySelectorAll("li.entry"));
      if (!entries.length) return;
      let at = chosen ? entries.indexOf(chosen) : (step > 0 ? -1 : entries.length);
      at = Math.max(0, Math.min(entries.length - 1, at + step));
      if (chosen) chosen.classList.remove("chosen");
      chosen = entries[at];
      chosen.classList.add("chosen");
      chosen.focus();
    }
    function toggleHelp(open) {
      if (!help) return;
      help.hidden = !open;
      if (open) document.getElementById("help-close").focus();
    }
    if (help) document.getElementById("help-close").addEventListener("click", () => toggleHelp(false));
    document.addEventListener("keydown", (event) => {
      const target = event.target;
      if (event.ctrlKey || event.metaKey || event.altKey) return;
      if (target.closest && target.closest("input, textarea, select, [contenteditable]")) return;
      if (event.key === "Escape") return toggleHelp(false);
      if (event.key === "?") { event.preventDefault(); return toggleHelp(help && help.hidden); }
      if (pendingG) {
        pendingG = false;
        if (event.key === "d") window.location.href = "/due";
        return;
      }
      const item = chosen || (document.activeElement && document.activeElement.closest
        ? document.activeElement.closest("li.entry") : null);
      switch (event.key) {
        case "j": choose(1); break;
        case "k": choose(-1); break;
        case "g": pendingG = true; break;
        case "c": {
          const compose = document.querySelector('a[data-key="c"]');
          if (compose) compose.click();
          break;
        }
        case "a": {
          const button = item && item.querySelector('button[data-key="a"]');
          if (button) button.click();
          break;
        }
        case "r": {
          const reply = item && item.querySelector('a[data-key="r"]');
          if (reply) reply.click();
          break;
        }
        default: return;
      }
    });
  }

  live();
  notifySettings();
  drafts();
  attachments();
  previews();
  openThread();
  keyboard();
})();

// Buttons that end someone's access ask first: <form data-confirm="question">.
document.addEventListener("submit", function (event) {
  const question = event.target.dataset && event.target.dataset.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
});
