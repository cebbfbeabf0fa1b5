"""The app's one page: a text box, the bridge's answer and the per-token layer-weight heat map.

Plain HTML with inline CSS and JS, no external resource (works offline). The script POSTs
{"text": ...} to `api/answer` and builds the answer and the heat map with DOM calls only: every
text from the user or the model goes through `textContent`, never parsed as HTML."""

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>layerbridge app</title>
<style>
  body { font-family: system-ui, "Noto Sans", "Noto Sans Sinhala", sans-serif; margin: 1.5rem auto; max-width: 1100px;
         padding: 0 1rem; color: #1b1f24; }
  h1 { font-size: 1.3rem; margin: 0 0 .2rem; }
  .muted { color: #57606a; font-size: .9rem; }
  textarea { width: 100%; box-sizing: border-box; min-height: 6rem; font-size: 1.05rem; padding: .5rem; }
  button { font-size: 1rem; padding: .4rem 1.2rem; margin-top: .4rem; cursor: pointer; }
  #status { margin-left: .8rem; }
  #status.error { color: #b42318; }
  section { margin-top: 1.2rem; }
  h2 { font-size: 1.05rem; margin: 0 0 .4rem; }
  #labels td { padding: .15rem .5rem; }
  .bar { height: .9rem; background: #2f6fb3; border-radius: 2px; }
  .bar-box { width: 320px; background: #eef2f6; border-radius: 2px; }
  .best { font-weight: 600; }
  #output { white-space: pre-wrap; background: #f6f8fa; padding: .6rem; border-radius: 4px; font-size: 1.05rem; }
  #heatmap-wrap { overflow-x: auto; }
  #heatmap table { border-collapse: collapse; font-size: .8rem; }
  #heatmap th { font-weight: 500; padding: .1rem .4rem; }
  #heatmap th.token { text-align: right; white-space: pre; font-family: ui-monospace, monospace; max-width: 18rem;
                      overflow: hidden; text-overflow: ellipsis; }
  #heatmap td { width: 2.4rem; height: 1.2rem; text-align: center; border: 1px solid #fff; font-size: .7rem; }
  #legend { display: flex; align-items: center; gap: .5rem; margin: .4rem 0; font-size: .8rem; }
  #legend .scale { width: 220px; height: .8rem; border: 1px solid #ccd;
                   background: linear-gradient(to right, rgb(247,251,255), rgb(8,48,107)); }
  #hover { font-family: ui-monospace, monospace; font-size: .85rem; min-height: 1.2rem; }
</style>
</head>
<body>
<h1>layerbridge: try a bridge</h1>
<div class="muted" id="info">loading the bridge&hellip;</div>
<section>
  <label for="text" class="muted">Type or paste a text in any language (Ctrl+Enter answers)</label>
  <textarea id="text" spellcheck="false"></textarea>
  <div><button id="submit" type="button">Answer</button><span id="status" class="muted"></span></div>
</section>
<section id="answer" hidden>
  <h2 id="answer-title">Answer</h2>
  <table id="labels"></table>
  <div id="output" hidden></div>
  <div class="muted" id="answer-note"></div>
</section>
<section id="heatmap-section" hidden>
  <h2>Layer weights: each encoder token (row) over the fused encoder layers (columns)</h2>
  <div id="legend"><span>0</span><span class="scale"></span><span id="legend-max"></span>
    <span class="muted">(hover a cell for its value)</span></div>
  <div id="hover"></div>
  <div id="heatmap-wrap"><div id="heatmap"></div></div>
</section>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}
function setStatus(text, isError) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "muted";
}
function colour(value, max) {
  const t = max > 0 ? Math.min(1, Math.max(0, value / max)) : 0;
  const lo = [247, 251, 255], hi = [8, 48, 107];
  const c = lo.map((v, i) => Math.round(v + (hi[i] - v) * t));
  return { bg: `rgb(${c[0]},${c[1]},${c[2]})`, fg: t > 0.55 ? "#fff" : "#1b1f24" };
}
async function loadInfo() {
  try {
    const response = await fetch("api/info");
    const info = await response.json();
    const what = info.kind === "classification"
      ? `task ${info.task}: probability of each label (${info.labels.join(", ")})`
      : (info.task ? `task ${info.task}: generated text` : "no task recorded: generated text from the raw input");
    $("info").textContent = `${info.bridge} | ${info.encoder} -> ${info.llm} | fusion ${info.fusion}, `
      + `${info.layers.length} fused layers | ${what}`;
  } catch (err) {
    $("info").textContent = "could not read the bridge's description: " + err;
  }
}
function renderLabels(data) {
  const table = $("labels");
  table.replaceChildren();
  for (const row of data.labels) {
    const tr = el("tr", null, "label-row" + (row.label === data.answer ? " best" : ""));
    tr.dataset.label = row.label;
    tr.dataset.probability = String(row.probability);
    tr.appendChild(el("td", row.label, "label"));
    const box = el("div", null, "bar-box"), bar = el("div", null, "bar");
    bar.style.width = (100 * row.probability).toFixed(1) + "%";
    box.appendChild(bar);
    const cell = el("td");
    cell.appendChild(box);
    tr.appendChild(cell);
    tr.appendChild(el("td", (100 * row.probability).toFixed(1) + "%", "probability"));
    table.appendChild(tr);
  }
}
function renderAnswer(data) {
  $("answer").hidden = false;
  const isClass = data.kind === "classification";
  $("labels").hidden = !isClass;
  $("output").hidden = isClass;
  $("answer-title").textContent = isClass ? `Answer: ${data.answer}` : "Generated text";
  if (isClass) renderLabels(data); else $("output").textContent = data.output;
  let note = `encoder input: ${JSON.stringify(data.encoder_input)} | ${data.seconds} s`;
  if (data.truncated) note += ` | cut to ${data.max_encoder_length} encoder tokens`;
  $("answer-note").textContent = note;
}
function heatCell(token, layer, value, max) {
  const td = el("td", value.toFixed(2), "weight");
  const c = colour(value, max);
  td.style.background = c.bg;
  td.style.color = c.fg;
  const label = `token ${JSON.stringify(token)} | layer ${layer}: ${value.toFixed(4)}`;
  td.title = label;
  td.addEventListener("mouseenter", () => { $("hover").textContent = label; });
  return td;
}
function renderHeatmap(map) {
  $("heatmap-section").hidden = !map;
  $("heatmap").replaceChildren();
  if (!map) return;
  const max = Math.max(1e-12, ...map.weights.flat());
  $("legend-max").textContent = max.toFixed(3);
  const table = el("table"), head = el("tr");
  head.appendChild(el("th", "token"));
  for (const layer of map.layers) {
    const th = el("th", "L" + layer, "layer-col");
    th.title = `encoder layer ${layer} (0: embeddings)`;
    head.appendChild(th);
  }
  const thead = el("thead"), tbody = el("tbody");
  thead.appendChild(head);
  map.tokens.forEach((token, i) => {
    const tr = el("tr", null, "token-row");
    const th = el("th", token, "token");
    th.title = map.raw_tokens[i];
    tr.appendChild(th);
    map.weights[i].forEach((value, j) => tr.appendChild(heatCell(token, map.layers[j], value, max)));
    tbody.appendChild(tr);
  });
  table.append(thead, tbody);
  $("heatmap").appendChild(table);
}
async function submit() {
  const text = $("text").value;
  $("submit").disabled = true;
  setStatus("answering\\u2026", false);
  try {
    const response = await fetch("api/answer", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ text }) });
    const data = await response.json();
    if (!response.ok) { setStatus(data.error || response.statusText, true); return; }
    renderAnswer(data);
    renderHeatmap(data.heatmap);
    document.body.dataset.answered = String(Number(document.body.dataset.answered || 0) + 1);
    setStatus("done", false);
  } catch (err) {
    setStatus("the request failed: " + err, true);
  } finally {
    $("submit").disabled = false;
  }
}
$("submit").addEventListener("click", submit);
$("text").addEventListener("keydown", (e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) submit(); });
loadInfo();
</script>
</body>
</html>
"""
