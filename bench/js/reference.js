// The Node.js reference: POST /cluster/fanout answered with Promise.allSettled over fetch
// (undici, keep-alive), in the sidecar's answer shape. Nodes come from NODES (comma-separated base URLs).
// Usage: NODES=... node reference.js PORT
const http = require('http');
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
      const r = await fetch(node.url + opts.url, { method: opts.method || 'GET', signal: AbortSignal.timeout(timeout) });
      const text = await r.text();
      const type = r.headers.get('content-type') || '';
      const data = type.includes('json') ? JSON.parse(text) : text;
      return { status: r.status, headers: Object.fromEntries(r.headers), data, durationMs: performance.now() - started };
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
