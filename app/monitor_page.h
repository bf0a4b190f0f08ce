// The built-in web view served at / by MonitorServer.
#pragma once

namespace ec {

inline const char* kMonitorPage = R"HTML(<!doctype html>
<html><head><meta charset="utf-8"><title>edgecompress live</title>
<style>
body{font-family:sans-serif;margin:16px;background:#111;color:#eee}
h1{font-size:18px;margin:0 0 8px}
#video{max-width:100%;border:1px solid #444;background:#000;min-height:120px}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #444;padding:3px 8px;text-align:right}
th{background:#222}td:first-child{text-align:left}
.row{display:flex;flex-wrap:wrap;gap:12px}canvas{background:#1a1a1a;border:1px solid #333}
#meta{color:#aaa;font-size:13px}
</style></head><body>
<h1>edgecompress live</h1>
<div id="meta">connecting...</div>
<img id="video" alt="live overlay">
<table id="vars"><thead><tr><th>variant</th><th>backend</th><th>inference p50 ms</th><th>p95 ms</th>
<th>engine-only FPS</th><th>capture&rarr;result p95 ms</th><th>detections</th><th>mJ/inference</th></tr></thead><tbody></tbody></table>
<div id="power"></div>
<div class="row"><canvas id="fps" width="560" height="200"></canvas><canvas id="watts" width="560" height="200"></canvas></div>
<script>
const q = new URLSearchParams(location.search); const tok = q.get('token');
const withTok = (u) => tok ? u + (u.includes('?') ? '&' : '?') + 'token=' + encodeURIComponent(tok) : u;
const hist = {t: [], fps: [], watts: []};
function chart(id, title, ys, unit) {
  const c = document.getElementById(id), g = c.getContext('2d');
  g.clearRect(0, 0, c.width, c.height); g.fillStyle = '#ccc'; g.font = '13px sans-serif';
  const vals = ys.filter(v => v !== null);
  const last = vals.length ? vals[vals.length - 1] : null;
  g.fillText(title + (last !== null ? ': ' + last.toFixed(1) + ' ' + unit : ': n/a'), 8, 16);
  if (vals.length < 2) return;
  const mx = Math.max(...vals) * 1.15 || 1;
  g.strokeStyle = '#3c3'; g.lineWidth = 2; g.beginPath();
  ys.forEach((v, i) => { if (v === null) return; const x = 8 + i * (c.width - 16) / 119, y = c.height - 10 - v / mx * (c.height - 40);
    i ? g.lineTo(x, y) : g.moveTo(x, y); });
  g.stroke(); g.fillText(mx.toFixed(1), c.width - 40, 30);
}
async function tick() {
  try {
    const s = await (await fetch(withTok('/api/status'))).json();
    document.getElementById('meta').textContent = `source ${s.source} | frame ${s.frame} | pipeline ${s.pipeline_fps.toFixed(1)} FPS (whole loop) | dropped ${s.dropped_frames} | ${s.status}` + (s.session ? ' | session ' + s.session : '');
    const tb = document.querySelector('#vars tbody'); tb.innerHTML = '';
    for (const v of s.variants || []) {
      const tr = document.createElement('tr');
      const mj = v.energy_mj_per_inference === null ? 'n/a' : v.energy_mj_per_inference.toFixed(2);
      tr.innerHTML = `<td>${v.name}</td><td>${v.backend} x${v.threads}</td><td>${v.inference_ms_p50.toFixed(2)}</td><td>${v.inference_ms_p95.toFixed(2)}</td><td>${v.inference_fps.toFixed(0)}</td><td>${v.e2e_ms_p95.toFixed(1)}</td><td>${v.detections}</td><td>${mj}</td>`;
      tb.appendChild(tr);
    }
    const p = s.power || {};
    document.getElementById('power').textContent = p.sensor ? `power (${p.sensor}${p.replay ? ', replay' : ''}): ` +
      (p.rails || []).map(r => `${r.name} ${r.watts.toFixed(2)} W`).join(', ') : 'power: n/a (' + (p.note || 'no power sensor') + ')';
    hist.fps.push(s.pipeline_fps); hist.watts.push(p.board_watts ?? null);
    for (const k of ['fps', 'watts']) if (hist[k].length > 120) hist[k].shift();
    chart('fps', 'pipeline FPS', hist.fps, 'FPS'); chart('watts', 'board power', hist.watts, 'W');
  } catch (e) { document.getElementById('meta').textContent = 'no connection: ' + e; }
}
function frame() { const img = document.getElementById('video'); const n = new Image();
  n.onload = () => { img.src = n.src; setTimeout(frame, 100); }; n.onerror = () => setTimeout(frame, 500);
  n.src = withTok('/snapshot.jpg?t=' + Date.now()); }
setInterval(tick, 1000); tick(); frame();
</script></body></html>
)HTML";

}  // namespace ec
