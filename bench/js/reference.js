// The Node.js reference: POST /cluster/fanout answered with Promise.allSettled over
// http.request with a keep-alive agent (what @mimik/cluster users run), in the sidecar's answer
// shape. CLIENT=fetch uses fetch (undici) instead, the reference of the figures before
// 2026-12-01. Nodes come from NODES (comma-separated base URLs).
// https:// nodes go through https.request with its own keep-alive agent (trust from
// NODE_EXTRA_CA_CERTS).
// Usage: NODES=... [CLIENT=http|fetch] node reference.js PORT
const http = require('http');
const https = require('https');
const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
const tlsAgent = new https.Agent({ keepAlive: true, maxSockets: 8 });

// One node request through http.request (https.request): status, headers and text, or a rejection.
function request(url, method, timeout) {
  const tls = url.startsWith('https:');
  return new Promise((resolve, reject) => {
    const req = (tls ? https : http).request(url, { method, agent: tls ? tlsAgent : agent, timeout }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

async function viaFetch(url, method, timeout) {
  const r = await fetch(url, { method, signal: AbortSignal.timeout(timeout) });
  return { status: r.status, headers: Object.fromEntries(r.headers), text: await r.text() };
}

const call = process.env.CLIENT === 'fetch' ? viaFetch : request;
const nodes = process.env.NODES.split(',').map((url, k) => ({ id: `n${k}`, url }));
const port = Number(process.argv[2]);
http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', async () => {
    const opts = JSON.parse(Buffer.concat(chunks).toString() || '{}');
    const timeout = opts.timeout || 10000;
    const settled = await Promise.allSettled(nodes.map(async (node) => {
      const started = performance.now();
      const r = await call(node.url + opts.url, opts.method || 'GET', timeout);
      const type = r.headers['content-type'] || '';
      const data = type.includes('json') ? JSON.parse(r.text) : r.text;
      return { status: r.status, headers: r.headers, data, durationMs: performance.now() - started };
    }));
    const answer = { data: [], results: [], failures: [] };
    settled.forEach((s, k) => {
      const server = { id: nodes[k].id, url: nodes[k].url };
      if (s.status === 'fulfilled' && s.value.status < 300) {
        answer.data.push(s.value.data);
        answer.results.push({ result: s.value, server });
      } else {
        answer.failures.push({ error: { code: 'error', message: String(s.reason || s.value.status) }, server });
      }
    });
    const body = JSON.stringify(answer);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
}).listen(port, '127.0.0.1', () => console.log('ready'));
