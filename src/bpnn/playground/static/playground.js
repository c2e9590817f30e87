// bpnn playground page: asks the server to train, draws what comes back. No libraries.
"use strict";

const $ = (id) => document.getElementById(id);
const ORANGE = [245, 147, 34], BLUE = [8, 119, 189], WHITE = [247, 247, 247];
const CLASS_COLOURS = [ORANGE, BLUE, [46, 160, 67], [170, 60, 170], [200, 50, 50], [90, 90, 90]];

const app = {
  options: null, session: null, points: null, running: false, busy: false,
  history: { loss: [], test_loss: [] }, state: null, uploadId: null,
  epochsPerRequest: 5, speed: null, lastExplain: 0, sample: 0, resetToken: 0, wantRun: false,
};

function showMessage(text, info) {
  const box = $("message");
  box.textContent = text || "";
  box.className = info ? "info" : "";
}

async function api(method, path, body, raw) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    if (raw) { init.body = body; init.headers["Content-Type"] = "text/csv"; }
    else { init.body = JSON.stringify(body); init.headers["Content-Type"] = "application/json"; }
  }
  const response = await fetch(path, init);
  const data = await response.json().catch(() => ({ error: response.statusText }));
  if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
  return data;
}

function fill(select, values, chosen) {
  select.innerHTML = "";
  for (const value of values) {
    const option = document.createElement("option");
    option.value = option.textContent = value;
    select.appendChild(option);
  }
  if (chosen !== undefined && chosen !== null) select.value = chosen;
}

function lossChoices() {
  const name = $("dataset").value;
  const task = name === "sine" ? "regression" : name === "mazur" ? "classic"
    : name === "upload" ? app.uploadTask : "binary";
  const current = $("loss").value, choices = app.options.losses[task] || [];
  fill($("loss"), choices);  // none for an uploaded table's classes: the server picks
  if (choices.includes(current)) $("loss").value = current;
  if ($("optimizer").value === "lm" && choices.includes("mse")) $("loss").value = "mse";
}

function readConfig() {
  const number = (id) => Number($(id).value);
  const hiddenText = $("hidden").value.trim();
  const hidden = hiddenText === "" || hiddenText === "0" ? []
    : hiddenText.split(",").map((part) => Number(part.trim()));
  const config = {
    dataset: $("dataset").value, noise: number("noise"), test_fraction: number("test_fraction"),
    n_points: number("n_points"), hidden, activation: $("activation").value,
    loss: $("loss").value || null, init: $("init").value, optimizer: $("optimizer").value,
    lr: number("lr"), batch_size: number("batch_size"), l2: number("l2"),
    dropout: number("dropout"), seed: number("seed"),
  };
  if (config.dataset === "upload") config.upload = app.uploadId;
  return config;
}

// ------------------------------------------------------------------ session life
async function reset() {
  // A change of options makes a new session; training resumes if it was running (or Run was
  // pressed meanwhile). Only the latest of overlapping resets keeps its session.
  const token = ++app.resetToken;
  app.wantRun = app.wantRun || app.running;
  app.running = false;
  const old = app.session;
  app.session = null;
  if (old) api("DELETE", `/api/sessions/${old.id}`).catch(() => {});
  try {
    const session = await api("POST", "/api/sessions", readConfig());
    if (token !== app.resetToken) {
      api("DELETE", `/api/sessions/${session.id}`).catch(() => {});
      return;
    }
    const points = await api("GET", `/api/sessions/${session.id}/data`);
    if (token !== app.resetToken) return;
    app.session = session;
    app.points = points;
    if (!$("loss").value) fill($("loss"), [session.loss]);  // the server's choice for a table
    app.history = { loss: [], test_loss: [] };
    app.history[session.metric] = [];
    app.sample = Math.min(Number($("sample").value) || 0, session.n_train - 1);
    $("sample").max = session.n_train - 1;
    $("metric-name").textContent = session.metric || "metric";
    $("view-caption").firstChild.textContent = session.task === "regression" && session.sizes[0] === 1
      ? "Fitted curve " : "Decision boundary ";
    const notes = session.notes && session.notes.length ? " " + session.notes.join("; ") : "";
    showMessage(`${session.dataset}: ${session.n_train} train and ${session.n_test} test rows, `
      + `network ${session.sizes.join("-")}, loss ${session.loss}, batch ${session.batch_size}.${notes}`, true);
    await refresh(true);
    if (app.wantRun && token === app.resetToken) { app.wantRun = false; play(); }
  } catch (error) {
    app.wantRun = false;
    showMessage(error.message);
  }
}

async function refresh(withExplain) {
  if (!app.session) return;
  const since = app.history.loss.length;
  const state = await api("GET",
    `/api/sessions/${app.session.id}/state?since=${since}&sample=${app.sample}`);
  if (state.history.since === since) {
    for (const key of Object.keys(state.history)) {
      if (key === "since") continue;
      app.history[key] = (app.history[key] || []).concat(state.history[key]);
    }
  }
  app.state = state;
  showNumbers(state);
  drawNetwork(state);
  drawView(state);
  drawLosses();
  const now = performance.now();
  if (withExplain || now - app.lastExplain > 700) {
    app.lastExplain = now;
    await explain();
  }
}

function format(value, digits) {
  if (value === null || value === undefined) return "-";
  return Number(value).toPrecision(digits || 4);
}

function showNumbers(summary) {
  $("epoch-value").textContent = summary.epoch;
  $("loss-value").textContent = format(summary.loss);
  $("test-loss-value").textContent = format(summary.test_loss);
  const metric = app.session && app.session.metric;
  $("metric-value").textContent = metric
    ? `${format(summary[metric], 3)} / ${format(summary["test_" + metric], 3)}` : "-";
}

// ------------------------------------------------------------------ training loop
async function trainOnce(epochs) {
  const started = performance.now();
  const result = await api("POST", `/api/sessions/${app.session.id}/train`, { epochs });
  const seconds = (performance.now() - started) / 1000;
  const rate = result.epochs_run / Math.max(seconds, 1e-3);
  app.speed = app.speed === null ? rate : 0.7 * app.speed + 0.3 * rate;
  $("speed-value").textContent = app.speed.toFixed(0);
  // Aim at about 0.2 s of training per request: many epochs a frame, and a live picture.
  app.epochsPerRequest = Math.max(1, Math.min(300, Math.round(app.speed * 0.2)));
  return result;
}

async function loop() {
  while (app.running && app.session) {
    try {
      await trainOnce(app.epochsPerRequest);
      await refresh(false);
    } catch (error) {
      showMessage(error.message);
      pause();
    }
    await new Promise((resolve) => requestAnimationFrame(resolve));
  }
  if (app.session) await refresh(true).catch((error) => showMessage(error.message));
}

function play() {
  if (!app.session) { app.wantRun = true; $("run").textContent = "Pause"; return; }
  if (app.running) return;
  app.running = true;
  $("run").textContent = "Pause";
  loop();
}

function pause() {
  app.running = false;
  if (app.session) app.wantRun = false;
  $("run").textContent = "Run";
}

async function once(kind) {
  if (!app.session || app.running || app.busy) return;
  app.busy = true;
  try {
    if (kind === "step") {
      const result = await api("POST", `/api/sessions/${app.session.id}/step`);
      showMessage(`step ${result.steps}: mini-batch loss ${format(result.step_loss, 6)}`, true);
    } else {
      await trainOnce(1);
    }
    await refresh(true);
  } catch (error) {
    showMessage(error.message);
  } finally {
    app.busy = false;
  }
}

// ------------------------------------------------------------------ drawing helpers
function mix(a, b, t) {
  return [0, 1, 2].map((i) => Math.round(a[i] + (b[i] - a[i]) * t));
}

function diverging(t) {  // t in [0, 1]: orange - white - blue
  t = Math.max(0, Math.min(1, t));
  return t < 0.5 ? mix(ORANGE, WHITE, t * 2) : mix(WHITE, BLUE, (t - 0.5) * 2);
}

function rgb(colour, alpha) {
  return alpha === undefined ? `rgb(${colour.join(",")})` : `rgba(${colour.join(",")},${alpha})`;
}

// ------------------------------------------------------------------ network diagram
function drawNetwork(state) {
  const canvas = $("network"), ctx = canvas.getContext("2d");
  const width = canvas.width, height = canvas.height;
  ctx.clearRect(0, 0, width, height);
  const sizes = state.sizes, columns = sizes.length;
  const shown = sizes.map((n) => Math.min(n, 16));
  const position = (layer, j) => {
    const x = 40 + (width - 80) * (columns === 1 ? 0.5 : layer / (columns - 1));
    const gap = (height - 40) / Math.max(shown[layer], 1);
    return [x, 20 + gap * (j + 0.5)];
  };
  let biggest = 1e-9;
  for (const layer of state.layers) for (const row of layer.weight) for (const w of row)
    biggest = Math.max(biggest, Math.abs(w));
  const selected = $("weight").value;
  const names = weightNames(state.sizes);
  const edges = app.edges = [];
  for (let l = 0; l < state.layers.length; l++) {
    const weights = state.layers[l].weight;
    for (let j = 0; j < shown[l + 1]; j++) {
      for (let i = 0; i < shown[l]; i++) {
        const w = weights[j][i];
        const [x0, y0] = position(l, i), [x1, y1] = position(l + 1, j);
        ctx.strokeStyle = rgb(w >= 0 ? BLUE : ORANGE, 0.25 + 0.75 * Math.abs(w) / biggest);
        ctx.lineWidth = 0.5 + 5 * Math.abs(w) / biggest;
        if (names[l][j][i] === selected) { ctx.strokeStyle = "#111"; ctx.lineWidth += 2; }
        ctx.beginPath(); ctx.moveTo(x0 + 11, y0); ctx.lineTo(x1 - 11, y1); ctx.stroke();
        edges.push({ name: names[l][j][i], x0: x0 + 11, y0, x1: x1 - 11, y1 });
      }
    }
  }
  ctx.font = "10px sans-serif";
  ctx.textAlign = "center";
  for (let l = 0; l < columns; l++) {
    const activation = l === 0 ? "linear" : state.activations[l - 1];
    for (let j = 0; j < shown[l]; j++) {
      const value = state.node_values[l][j];
      const [x, y] = position(l, j);
      const scaled = activation === "sigmoid" ? value : (Math.tanh(value) + 1) / 2;
      ctx.fillStyle = rgb(diverging(scaled));
      ctx.strokeStyle = "#345";
      ctx.lineWidth = 1;
      ctx.beginPath(); ctx.arc(x, y, 10, 0, 2 * Math.PI); ctx.fill(); ctx.stroke();
      ctx.fillStyle = "#111";
      ctx.fillText(value.toFixed(2), x, y - 13);
    }
    if (sizes[l] > shown[l]) ctx.fillText(`+${sizes[l] - shown[l]} more`, position(l, 0)[0], height - 4);
    ctx.fillStyle = "#567";
    const label = l === 0 ? "input" : l === columns - 1 ? `output (${state.activations[l - 1]})`
      : `hidden ${l} (${state.activations[l - 1]})`;
    ctx.fillText(label, position(l, 0)[0], 10);
  }
}

function pickWeight(event) {  // the edge nearest the click becomes the chain rule's weight
  const canvas = $("network"), box = canvas.getBoundingClientRect();
  const px = (event.clientX - box.left) / box.width * canvas.width;
  const py = (event.clientY - box.top) / box.height * canvas.height;
  let best = null, bestDistance = 8;
  for (const e of app.edges || []) {
    const dx = e.x1 - e.x0, dy = e.y1 - e.y0;
    const t = Math.max(0, Math.min(1, ((px - e.x0) * dx + (py - e.y0) * dy) / (dx * dx + dy * dy)));
    const distance = Math.hypot(px - (e.x0 + t * dx), py - (e.y0 + t * dy));
    if (distance < bestDistance) { best = e.name; bestDistance = distance; }
  }
  if (best && [...$("weight").options].some((o) => o.value === best)) {
    $("weight").value = best;
    explain().catch((error) => showMessage(error.message));
  }
}

function weightNames(sizes) {  // w1, w2, ... numbered as bpnn explain numbers them
  const names = [];
  let count = 0;
  for (let l = 0; l + 1 < sizes.length; l++) {
    const layer = [];
    for (let j = 0; j < sizes[l + 1]; j++) {
      const row = [];
      for (let i = 0; i < sizes[l]; i++) row.push(`w${++count}`);
      layer.push(row);
    }
    names.push(layer);
  }
  return names;
}

// ------------------------------------------------------------------ boundary / curve
function dataRange(view) {
  if (view && view.kind === "grid") return { x: view.x_range, y: view.y_range };
  const xs = app.points.train.x.concat(app.points.test.x);
  const ys = app.points.train.y.concat(app.points.test.y);
  const lo = (values) => Math.min(...values), hi = (values) => Math.max(...values);
  const xr = [lo(xs.map((r) => r[0])), hi(xs.map((r) => r[0]))];
  const yv = ys.map((r) => r[0]).concat(view && view.kind === "curve" ? view.y : []);
  const yr = [lo(yv), hi(yv)];
  const pad = (r) => [r[0] - (r[1] - r[0]) * 0.08 - 0.05, r[1] + (r[1] - r[0]) * 0.08 + 0.05];
  return { x: view && view.kind === "curve" ? [view.x[0], view.x[view.x.length - 1]] : pad(xr), y: pad(yr) };
}

function drawView(state) {
  const canvas = $("boundary"), ctx = canvas.getContext("2d");
  const size = canvas.width;
  ctx.clearRect(0, 0, size, canvas.height);
  const view = state.view;
  if (!view || !app.points) {
    ctx.fillStyle = "#789";
    ctx.font = "13px sans-serif";
    ctx.textAlign = "center";
    ctx.fillText(app.session && app.session.task === "classic"
      ? "one sample: see the network and the chain rule" : "no picture for more than two inputs",
    size / 2, canvas.height / 2);
    return;
  }
  const range = dataRange(view);
  const toX = (v) => (v - range.x[0]) / (range.x[1] - range.x[0]) * size;
  const toY = (v) => canvas.height - (v - range.y[0]) / (range.y[1] - range.y[0]) * canvas.height;
  if (view.kind === "grid") {
    const n = view.size, image = ctx.createImageData(n, n);
    const regression = app.session.task === "regression";
    let low = 0, high = 1;
    if (regression) { low = Math.min(...view.values); high = Math.max(...view.values); }
    for (let row = 0; row < n; row++) {
      for (let col = 0; col < n; col++) {
        const k = row * n + col, value = view.values[k];
        let colour;
        if (view.classes) colour = mix(WHITE, CLASS_COLOURS[view.classes[k] % CLASS_COLOURS.length], value);
        else colour = diverging((value - low) / Math.max(high - low, 1e-12));
        const target = ((n - 1 - row) * n + col) * 4;  // row 0 is the lowest y
        image.data.set([...mix(colour, WHITE, 0.25), 255], target);
      }
    }
    const buffer = document.createElement("canvas");
    buffer.width = buffer.height = n;
    buffer.getContext("2d").putImageData(image, 0, 0);
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(buffer, 0, 0, size, canvas.height);
    drawPoints(ctx, toX, toY, false);
  } else {
    drawPoints(ctx, toX, toY, true);
    ctx.strokeStyle = "#222";
    ctx.lineWidth = 2.5;
    ctx.beginPath();
    view.x.forEach((x, i) => (i ? ctx.lineTo(toX(x), toY(view.y[i])) : ctx.moveTo(toX(x), toY(view.y[i]))));
    ctx.stroke();
  }
}

function drawPoints(ctx, toX, toY, curve) {
  for (const [part, isTest] of [[app.points.train, false], [app.points.test, true]]) {
    part.x.forEach((x, i) => {
      const target = part.y[i];
      const px = toX(x[0]), py = curve ? toY(target[0]) : toY(x[1]);
      let colour = [90, 90, 90];
      if (!curve) colour = CLASS_COLOURS[Math.round(target[0]) % CLASS_COLOURS.length];
      ctx.beginPath();
      ctx.arc(px, py, isTest ? 3.2 : 3, 0, 2 * Math.PI);
      ctx.fillStyle = isTest ? "#fff" : rgb(colour);
      ctx.strokeStyle = isTest ? rgb(colour) : "#fff";
      ctx.lineWidth = isTest ? 1.6 : 0.8;
      ctx.fill(); ctx.stroke();
      if (!isTest && i === app.sample) {
        ctx.strokeStyle = "#000"; ctx.lineWidth = 2;
        ctx.beginPath(); ctx.arc(px, py, 7, 0, 2 * Math.PI); ctx.stroke();
      }
    });
  }
}

function pickSample(event) {
  if (!app.points || !app.state || !app.state.view) return;
  const canvas = $("boundary"), box = canvas.getBoundingClientRect();
  const range = dataRange(app.state.view), curve = app.state.view.kind === "curve";
  const px = (event.clientX - box.left) / box.width * canvas.width;
  const py = (event.clientY - box.top) / box.height * canvas.height;
  let best = 0, bestDistance = Infinity;
  app.points.train.x.forEach((x, i) => {
    const qx = (x[0] - range.x[0]) / (range.x[1] - range.x[0]) * canvas.width;
    const value = curve ? app.points.train.y[i][0] : x[1];
    const qy = canvas.height - (value - range.y[0]) / (range.y[1] - range.y[0]) * canvas.height;
    const distance = (qx - px) ** 2 + (qy - py) ** 2;
    if (distance < bestDistance) { best = i; bestDistance = distance; }
  });
  app.sample = best;
  $("sample").value = best;
  refresh(true).catch((error) => showMessage(error.message));
}

// ------------------------------------------------------------------ loss curves
function drawLosses() {
  const canvas = $("losses"), ctx = canvas.getContext("2d");
  const width = canvas.width, height = canvas.height, left = 46, bottom = 26;
  ctx.clearRect(0, 0, width, height);
  const series = [["loss", "#0877bd", []], ["test_loss", "#f59322", [5, 4]]]
    .filter(([key]) => (app.history[key] || []).length);
  ctx.strokeStyle = "#99a"; ctx.lineWidth = 1;
  ctx.beginPath(); ctx.moveTo(left, 6); ctx.lineTo(left, height - bottom); ctx.lineTo(width - 6, height - bottom); ctx.stroke();
  if (!series.length) return;
  const all = series.flatMap(([key]) => app.history[key]).filter((v) => v > 0 && isFinite(v));
  if (!all.length) return;
  let low = Math.log10(Math.min(...all)), high = Math.log10(Math.max(...all));
  if (high - low < 0.5) { low -= 0.25; high += 0.25; }
  const epochs = app.history.loss.length;
  const toX = (i) => left + (width - left - 8) * (epochs <= 1 ? 0 : i / (epochs - 1));
  const toY = (v) => 6 + (height - bottom - 6) * (1 - (Math.log10(v) - low) / (high - low));
  ctx.fillStyle = "#567"; ctx.font = "10px sans-serif"; ctx.textAlign = "right";
  // Grid lines at 1, 2 and 5 times each power of ten inside the range.
  const ticks = [];
  for (let p = Math.floor(low); p <= Math.ceil(high); p++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** p;
      if (Math.log10(v) >= low && Math.log10(v) <= high) ticks.push(v);
    }
  }
  const labelled = ticks.length > 8 ? ticks.filter((v) => Math.abs(Math.log10(v) % 1) < 1e-9) : ticks;
  for (const v of labelled) {
    ctx.fillText(Number(v.toPrecision(1)).toString(), left - 4, toY(v) + 3);
    ctx.strokeStyle = "#eee"; ctx.beginPath(); ctx.moveTo(left + 1, toY(v)); ctx.lineTo(width - 6, toY(v)); ctx.stroke();
  }
  ctx.textAlign = "center";
  ctx.fillText(`epoch ${epochs}`, (left + width) / 2, height - 8);
  for (const [key, colour, dash] of series) {
    const values = app.history[key];
    ctx.strokeStyle = colour; ctx.lineWidth = 2; ctx.setLineDash(dash);
    ctx.beginPath();
    values.forEach((v, i) => {
      const y = toY(Math.max(v, 10 ** low));
      i ? ctx.lineTo(toX(i), y) : ctx.moveTo(toX(i), y);
    });
    ctx.stroke();
  }
  ctx.setLineDash([]);
}

// ------------------------------------------------------------------ chain rule
const f9 = (v) => (v !== 0 && Math.abs(v) < 1e-5 ? v.toExponential(6) : v.toFixed(9));

async function explain() {
  if (!app.session) return;
  const full = $("explain-details").open;
  const trace = await api("GET",
    `/api/sessions/${app.session.id}/explain?sample=${app.sample}${full ? "&text=1" : ""}`);
  if (full) $("explain-full").textContent = trace.text;
  const rows = trace.backward.flatMap((layer) => layer.weights.map((w) => ({ ...w, layer: layer.layer })));
  const select = $("weight");
  const chosen = select.value;
  if (select.options.length !== rows.length) fill(select, rows.map((w) => w.name));
  // By default the first weight into the output layer (w5 in the classic 2-2-2 example).
  select.value = rows.some((w) => w.name === chosen) ? chosen : rows[0].name;
  const w = rows.find((row) => row.name === select.value);
  const forward = trace.forward[w.layer - 1].neurons.find((n) => n.name === w.to);
  const activation = trace.network.activations[w.layer - 1];
  const lr = trace.network.learning_rate;
  const lines = [
    `${trace.network.description}; network ${trace.network.sizes.join("-")}`,
    `error   ${trace.network.error}`,
    "",
    `net_${w.to} = ${forward.terms.map((t) => `${t.weight}*${t.input}`).join(" + ")} + b = ${f9(forward.net)}`,
    `out_${w.to} = ${activation}(net_${w.to}) = ${f9(forward.out)}`,
    `E = ${trace.errors.map((e) => f9(e.error)).join(" + ")} = ${f9(trace.total_error)}`
      + `   (target ${trace.errors.map((e) => format(e.target, 6)).join(", ")})`,
    "",
    `dE/dout_${w.to}  = ${f9(w.dE_dout)}`,
    `dout_${w.to}/dnet_${w.to} = ${activation}'(net_${w.to}) = ${f9(w.dout_dnet)}`,
    `delta_${w.to} = dE/dout * dout/dnet = ${f9(w.dE_dout * w.dout_dnet)}`,
    `dnet_${w.to}/d${w.name} = ${w.from} = ${f9(w.dnet_dw)}`,
    "",
    `dE/d${w.name} = dE/dout_${w.to} * dout_${w.to}/dnet_${w.to} * dnet_${w.to}/d${w.name}`,
    `       = ${f9(w.dE_dout)} * ${f9(w.dout_dnet)} * ${f9(w.dnet_dw)} = ${f9(w.gradient)}`,
    "",
    `one SGD step on this sample (lr ${lr}):  ${w.name} -> ${f9(w.value)} - ${lr} * ${f9(w.gradient)} = ${f9(w.updated)}`,
  ];
  $("chain-text").textContent = lines.join("\n");
  if (app.state) drawNetwork(app.state);
}

// ------------------------------------------------------------------ upload
async function upload(file) {
  if (!file) return;
  try {
    const target = encodeURIComponent($("csv-target").value.trim());
    const table = await api("POST",
      `/api/uploads?name=${encodeURIComponent(file.name)}${target ? "&target=" + target : ""}`,
      file, true);
    app.uploadId = table.upload;
    app.uploadTask = table.task === "regression" ? "regression" : null;
    if (![...$("dataset").options].some((o) => o.value === "upload")) {
      const option = document.createElement("option");
      option.value = "upload";
      $("dataset").appendChild(option);
    }
    $("dataset").querySelector("option[value=upload]").textContent = `upload: ${table.name}`;
    $("dataset").value = "upload";
    lossChoices();
    showMessage(`${table.name}: ${table.rows} rows, predicting ${table.target} (${table.task}: ${table.reason})`, true);
    await reset();
  } catch (error) {
    showMessage(error.message);
  }
}

// ------------------------------------------------------------------ start
async function main() {
  app.options = await api("GET", "/api/options");
  const d = app.options.defaults;
  fill($("dataset"), Object.keys(app.options.datasets), d.dataset);
  fill($("activation"), app.options.activations, d.activation);
  fill($("init"), app.options.inits, d.init);
  fill($("optimizer"), app.options.optimizers, d.optimizer);
  lossChoices();
  $("run").onclick = () => (app.running || app.wantRun ? (app.wantRun = false, pause()) : play());
  $("step").onclick = () => once("step");
  $("epoch").onclick = () => once("epoch");
  $("reset").onclick = reset;
  for (const id of ["noise", "test_fraction"]) {
    $(id).oninput = () => { $(`${id}-out`).textContent = $(id).value; };
  }
  for (const id of ["dataset", "noise", "test_fraction", "n_points", "hidden", "activation", "loss",
    "init", "optimizer", "lr", "batch_size", "l2", "dropout", "seed"]) {
    $(id).onchange = () => {
      if (id === "dataset" || id === "optimizer") lossChoices();
      if (id === "dataset" && $("dataset").value === "mazur") {
        // The classic example's own network and step: 2-2-2 sigmoid, plain SGD at 0.5.
        $("optimizer").value = "sgd"; $("lr").value = 0.5; $("hidden").value = "2";
        $("activation").value = "sigmoid";
      }
      reset();
    };
  }
  $("sample").onchange = () => {
    app.sample = Math.max(0, Number($("sample").value) || 0);
    refresh(true).catch((error) => showMessage(error.message));
  };
  $("weight").onchange = () => explain().catch((error) => showMessage(error.message));
  $("explain-details").ontoggle = () => explain().catch((error) => showMessage(error.message));
  $("boundary").onclick = pickSample;
  $("network").onclick = pickWeight;
  $("csv-file").onchange = () => upload($("csv-file").files[0]);
  window.addEventListener("beforeunload", () => {
    if (app.session) navigator.sendBeacon && fetch(`/api/sessions/${app.session.id}`, { method: "DELETE", keepalive: true });
  });
  await reset();
}

main().catch((error) => showMessage(error.message));
