// The incidents page's map: Leaflet over the Natural Earth outlines (vendored; no
// tiles, no network), the active notifications of both sides and the conflicts'
// overlaps, and a time slider that shows what is active at one moment.  The tables
// below the map hold the same, for anyone who does not use it.
"use strict";

(function () {
  const holder = document.getElementById("map");
  const data = document.getElementById("map-data");
  if (!holder || !data || typeof L === "undefined") return;
  const features = JSON.parse(data.textContent).features;
  const map = L.map(holder, { worldCopyJump: true, keyboard: true, attributionControl: true });
  map.attributionControl.setPrefix("Leaflet");
  map.attributionControl.addAttribution("Natural Earth");
  map.setView([20, 0], 2); // a view first: circles measure themselves against it

  fetch("/static/vendor/world-atlas/countries-50m.json")
    .then((r) => r.json())
    .then((world) => {
      const land = topojson.feature(world, world.objects.countries);
      L.geoJSON(land, { interactive: false,
        style: { color: "#8c9aa8", weight: 1, fillColor: "#f4f1e8", fillOpacity: 1 } })
        .addTo(map).bringToBack();
    })
    .catch(() => {});

  const colour = { us: "#1f6feb", them: "#8a4fd8" };
  const layers = [];
  for (const f of features) {
    const p = f.properties;
    const style = p.role === "conflict"
      ? { color: "#d1242f", weight: 2, fillColor: "#d1242f", fillOpacity: 0.45 }
      : { color: colour[p.origin], weight: 2, fillOpacity: 0.15 };
    // The class is given when each path is made (setStyle does not set it).
    const className = p.role === "conflict" ? "conflict" : "notification " + p.origin;
    const layer = L.geoJSON(f, {
      className: className,
      style: style,
      pointToLayer: (point, at) => L.circle(at, Object.assign({ radius: p.reach_m || 100, className: className }, style)),
    });
    const label = p.role === "conflict" ? "Conflict " + p.id.slice(0, 16) : p.kind + " (" + (p.origin === "us" ? "ours" : "theirs") + ")";
    layer.bindTooltip(label + ": " + stamp(p.start) + " – " + stamp(p.end));
    layer.addTo(map);
    layers.push({ layer: layer, start: p.start, end: p.end });
  }
  const group = L.featureGroup(layers.map((l) => l.layer));
  if (layers.length) map.fitBounds(group.getBounds().pad(0.3));

  // The time slider: from the earliest start to the latest end.
  const slider = document.getElementById("when");
  const shown = document.getElementById("when-shown");
  const all = document.getElementById("when-all");
  if (!slider || !layers.length) return;
  const first = Math.min(...layers.map((l) => l.start));
  const last = Math.max(...layers.map((l) => l.end));
  function at() { return first + (last - first) * (slider.value / 1000); }
  function show(moment) {
    for (const l of layers) {
      const on = moment === null || (l.start <= moment && moment < l.end);
      if (on && !map.hasLayer(l.layer)) l.layer.addTo(map);
      if (!on && map.hasLayer(l.layer)) map.removeLayer(l.layer);
    }
    shown.value = moment === null ? "all times" : stamp(moment);
  }
  slider.addEventListener("input", () => show(at()));
  all.addEventListener("click", () => { slider.value = 0; show(null); });

  function stamp(seconds) {
    return new Date(seconds * 1000).toISOString().slice(0, 16).replace("T", " ") + " UTC";
  }
})();
