// The subject map: fences from the page, the track only after the audited "show location" form.
// Tiles only when central is configured with a tile URL; otherwise a plain background, no request
// leaves central. Every text comes from the page's catalogue (#ui-text).
(function () {
  "use strict";

  const text = JSON.parse(document.getElementById("ui-text").textContent);
  const data = JSON.parse(document.getElementById("map-data").textContent);
  const csrf = JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRF-Token"];

  const map = L.map("map", { keyboard: true, attributionControl: Boolean(data.tile_url), zoomSnap: 0.5 });
  if (data.tile_url) {
    L.tileLayer(data.tile_url, { maxZoom: 19 }).addTo(map);
  }
  L.control.scale({ imperial: false }).addTo(map);

  // Bounds are collected by hand: a circle can only measure itself once it is on a map with a view.
  const fenceLayer = L.featureGroup();
  const fenceBounds = L.latLngBounds([]);
  for (const feature of data.fences.features) {
    const exclusion = feature.properties.kind === "exclusion";
    const style = exclusion
      ? { color: "#b3261e", weight: 2, fillOpacity: 0.15, dashArray: "6 4" }
      : { color: "#1b6e3c", weight: 2, fillOpacity: 0.06 };
    let layer;
    if (feature.geometry.type === "Point") {
      const [lon, lat] = feature.geometry.coordinates;
      layer = L.circle([lat, lon], Object.assign({ radius: feature.properties.radius_m }, style));
      fenceBounds.extend(L.latLng(lat, lon).toBounds(2 * feature.properties.radius_m));
    } else {
      layer = L.geoJSON(feature, { style: () => style });
      fenceBounds.extend(layer.getBounds());
    }
    layer.bindTooltip(feature.properties.name);
    fenceLayer.addLayer(layer);
  }
  if (fenceBounds.isValid()) {
    map.fitBounds(fenceBounds, { padding: [20, 20] });
  } else {
    map.setView([35, 105], 4);
  }
  fenceLayer.addTo(map);

  const form = document.getElementById("track-form");
  if (!form) {
    return;
  }
  const status = document.getElementById("track-status");
  const playback = document.getElementById("playback");
  const slider = document.getElementById("slider");
  const sliderTime = document.getElementById("slider-time");
  const play = document.getElementById("play");
  const trackLayer = L.featureGroup().addTo(map);
  let points = [];
  let marker = null;
  let timer = null;

  function say(message, isError) {
    status.textContent = message;
    status.className = isError ? "problem" : "";
  }

  function stop() {
    if (timer !== null) {
      clearInterval(timer);
      timer = null;
    }
    play.textContent = text["map.play"];
    play.setAttribute("aria-pressed", "false");
  }

  function moveTo(i) {
    const p = points[i];
    slider.value = String(i);
    sliderTime.textContent = p.local;
    slider.setAttribute("aria-valuetext", text["map.position_at"] + " " + p.local);
    marker.setLatLng([p.lat, p.lon]);
  }

  function draw(track) {
    stop();
    trackLayer.clearLayers();
    points = track.points;
    let summary = text["map.points"]
      .replace("{shown}", points.length)
      .replace("{visible}", track.visible_fixes)
      .replace("{hidden}", track.hidden_fixes);
    if (track.tolerance_m !== null) {
      summary += "; " + text["map.simplified"].replace("{m}", track.tolerance_m);
    }
    if (!points.length) {
      playback.hidden = true;
      say(text["map.no_points"] + " " + summary, false);
      return;
    }
    const line = L.polyline(
      points.map((p) => [p.lat, p.lon]),
      { color: "#1f4e9c", weight: 3, opacity: 0.85 }
    );
    trackLayer.addLayer(line);
    trackLayer.addLayer(L.circleMarker([points[0].lat, points[0].lon], { radius: 4, color: "#1f4e9c" }));
    marker = L.circleMarker([points[0].lat, points[0].lon], {
      radius: 7, color: "#ffffff", weight: 2, fillColor: "#d9480f", fillOpacity: 1,
    });
    trackLayer.addLayer(marker);
    map.fitBounds(L.latLngBounds(points.map((p) => [p.lat, p.lon])).extend(fenceBounds), { padding: [20, 20] });
    slider.max = String(points.length - 1);
    playback.hidden = false;
    moveTo(points.length - 1);
    say(summary, false);
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    say(text["map.loading"], false);
    const body = {
      reason: form.elements.reason.value,
      since: form.elements.since.value,
      until: form.elements.until.value,
      alert_id: data.alert_id,
    };
    let response;
    try {
      response = await fetch(data.track_url, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify(body),
        credentials: "same-origin",
      });
    } catch (err) {
      say(text["map.failed"] + String(err), true);
      return;
    }
    const result = await response.json();
    if (response.status === 401 && result.login) {
      window.location.assign(result.login);
      return;
    }
    if (!response.ok) {
      say(text["map.failed"] + result.error + (result.detail ? " (" + result.detail + ")" : ""), true);
      return;
    }
    draw(result);
  });

  slider.addEventListener("input", () => {
    stop();
    moveTo(Number(slider.value));
  });

  play.addEventListener("click", () => {
    if (timer !== null) {
      stop();
      return;
    }
    let i = Number(slider.value);
    if (i >= points.length - 1) {
      i = 0;
    }
    play.textContent = text["map.pause"];
    play.setAttribute("aria-pressed", "true");
    moveTo(i);
    timer = setInterval(() => {
      i += 1;
      if (i >= points.length) {
        stop();
        return;
      }
      moveTo(i);
    }, 250);
  });
})();
