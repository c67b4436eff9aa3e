"""The page a browser gets at `GET /`: live scans and scanner states from the Streams socket."""

DEMO_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>scanbridge</title>
<style>
 body{font:15px/1.4 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
 header{background:#1d2330;color:#fff;padding:12px 20px;display:flex;gap:16px;align-items:center}
 header h1{font-size:18px;margin:0} #status{font-size:13px;padding:2px 8px;border-radius:10px;background:#b33}
 #status.live{background:#2a7} main{display:grid;grid-template-columns:1fr 280px;gap:16px;padding:16px 20px}
 section{background:#fff;border-radius:8px;padding:12px 16px;box-shadow:0 1px 2px #0002}
 h2{font-size:14px;text-transform:uppercase;color:#667;margin:4px 0 8px}
 table{width:100%;border-collapse:collapse} td,th{text-align:left;padding:4px 6px;border-bottom:1px solid #eee}
 td.code{font-family:ui-monospace,monospace;font-size:16px;word-break:break-all}
 .on{color:#2a7} .off{color:#b33}
</style></head><body>
<header><h1>scanbridge</h1><span id="status">connecting</span><span id="gw"></span></header>
<main>
 <section><h2>Scans</h2><table><thead><tr><th>seq</th><th>code</th><th>symbology</th>
 <th>device</th><th>time</th></tr></thead><tbody id="scans"></tbody></table></section>
 <section><h2>Scanners</h2><ul id="devices"></ul></section>
</main>
<script>
const scans = document.getElementById("scans"), devices = document.getElementById("devices");
const status = document.getElementById("status"), known = new Map();
let lastSeq = null, retry = 500;
function cell(row, text, cls) { const td = row.insertCell(); td.textContent = text ?? ""; if (cls) td.className = cls; }
function showDevice(serial, connected) {
  let li = known.get(serial);
  if (!li) { li = document.createElement("li"); known.set(serial, li); devices.appendChild(li); }
  li.textContent = serial + " ";
  const s = document.createElement("span"); s.className = connected ? "on" : "off";
  s.textContent = connected ? "connected" : "disconnected"; li.appendChild(s);
}
function connect() {
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const url = proto + "://" + location.host + "/" + (lastSeq !== null ? "?since=" + lastSeq : "");
  const ws = new WebSocket(url);
  ws.onopen = () => { status.textContent = "live"; status.className = "live"; retry = 500;
    ws.send(JSON.stringify({api_version: "1.0", event_type: "gateway_state!",
      event_id: crypto.randomUUID ? crypto.randomUUID() : "00000000-0000-4000-8000-000000000000",
      time_created: Date.now()})); };
  ws.onmessage = (m) => {
    const e = JSON.parse(m.data);
    if (typeof e.seq === "number") lastSeq = e.seq;
    if (e.event_type === "scan") {
      const row = scans.insertRow(0); row.className = "scan";
      cell(row, e.seq); cell(row, e.scan_code, "code"); cell(row, e.scan_decode_symbology);
      cell(row, e.device_serial); cell(row, new Date(e.time_created).toLocaleTimeString());
      while (scans.rows.length > 200) scans.deleteRow(-1);
    } else if (e.event_type === "scanner_state") {
      showDevice(e.device_serial, e.device_connected_state === "STATE_CONNECTED");
    } else if (e.event_type === "gateway_state") {
      document.getElementById("gw").textContent = "gateway " + e.gateway_serial;
      for (const d of e.device_connected_list || []) showDevice(d.device_serial, true);
    }
  };
  ws.onclose = () => { status.textContent = "reconnecting"; status.className = "";
    setTimeout(connect, retry); retry = Math.min(retry * 2, 10000); };
}
connect();
</script></body></html>
"""
