// Stub nodes: one HTTP server per port, each answering a small JSON after a fixed delay.
// Usage: node stubs.js FIRST_PORT COUNT DELAY_MS   (prints "ready" once all listen)
const http = require('http');
const [first, count, delay] = process.argv.slice(2).map(Number);
let ready = 0;
for (let k = 0; k < count; k++) {
  const body = JSON.stringify({ node: k, ok: true });
  http.createServer((req, res) => {
    req.resume();
    req.on('end', () => setTimeout(() => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    }, delay));
  }).listen(first + k, '127.0.0.1', () => { if (++ready === count) console.log('ready'); });
}
