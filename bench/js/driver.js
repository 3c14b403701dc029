// Load driver: the same client for every target.
//   node driver.js latency URL BODY|- COUNT        -> {"p50":ms,"p99":ms,"n":COUNT}  (sequential, after warm-up)
//   node driver.js throughput URL BODY|- CALLERS SECONDS -> {"perSecond":n,"errors":n}
// BODY "-" sends GET; otherwise POST with that JSON body.
const http = require('http');
const [mode, url, body, a, b] = process.argv.slice(2);
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
const u = new URL(url);
function once() {
  return new Promise((resolve, reject) => {
    const opts = { host: u.hostname, port: u.port, path: u.pathname + u.search, agent, method: body === '-' ? 'GET' : 'POST',
      headers: body === '-' ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } };
    const req = http.request(opts, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(String(res.statusCode)))));
    });
    req.on('error', reject);
    if (body !== '-') req.write(body);
    req.end();
  });
}
function pct(sorted, p) { return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]; }
(async () => {
  if (mode === 'latency') {
    const n = Number(a);
    for (let k = 0; k < 50; k++) await once();
    const times = [];
    for (let k = 0; k < n; k++) {
      const t = process.hrtime.bigint();
      await once();
      times.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    times.sort((x, y) => x - y);
    console.log(JSON.stringify({ p50: pct(times, 0.5), p99: pct(times, 0.99), n }));
  } else {
    const callers = Number(a), seconds = Number(b);
    const end = Date.now() + seconds * 1000;
    let done = 0, errors = 0;
    await Promise.all(Array.from({ length: callers }, async () => {
      while (Date.now() < end) { try { await once(); done++; } catch { errors++; } }
    }));
    console.log(JSON.stringify({ perSecond: done / seconds, errors }));
  }
  agent.destroy();
})();
