// A tiny development server for the My Data page: serves functions/api/assets/ from disk with the
// same headers the `api` function sends, and forwards every other path to the deployed API
// (API_URL from .local/stack.env). Useful when the deployed function does not read ASSETS_DIR:
//
//   node tests/browser/devserver.mjs            # http://127.0.0.1:8787/
//   PAGE_URL=proxy npm test                    # the browser tests start one on a free port
//
// Not used in production or by `make test` (which tests the page the function serves).

import http from "node:http";
import fs from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { readStackEnv } from "./stackenv.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const ASSETS_DIR = path.resolve(HERE, "../../functions/api/assets");

const FILES = {
  "/": ["index.html", "text/html; charset=utf-8"],
  "/index.html": ["index.html", "text/html; charset=utf-8"],
  "/assets/app.js": ["app.js", "text/javascript; charset=utf-8"],
  "/assets/style.css": ["style.css", "text/css; charset=utf-8"],
};

// Keep in step with functions/api/src/assets.rs.
const CSP = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'";

export function startDevServer({ port = 0, host = "127.0.0.1", apiUrl } = {}) {
  const target = new URL((apiUrl || readStackEnv().API_URL).replace(/\/+$/, "") + "/");
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, "http://x");
    const file = FILES[url.pathname];
    if (file && req.method === "GET") {
      const body = await fs.readFile(path.join(ASSETS_DIR, file[0]));
      res.writeHead(200, {
        "content-type": file[1],
        "cache-control": "no-cache",
        "x-content-type-options": "nosniff",
        "content-security-policy": CSP,
      });
      res.end(body);
      return;
    }
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const upstream = new URL(url.pathname.replace(/^\//, "") + url.search, target);
    const headers = {};
    for (const k of ["authorization", "content-type", "accept"]) if (req.headers[k]) headers[k] = req.headers[k];
    try {
      const r = await fetch(upstream, {
        method: req.method,
        headers,
        body: chunks.length ? Buffer.concat(chunks) : undefined,
        redirect: "manual",
      });
      const out = {};
      for (const k of ["content-type", "cache-control", "location"]) if (r.headers.get(k)) out[k] = r.headers.get(k);
      res.writeHead(r.status, out);
      res.end(Buffer.from(await r.arrayBuffer()));
    } catch (e) {
      res.writeHead(502, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { code: "proxy", message: String(e) } }));
    }
  });
  return new Promise((resolve) => {
    server.listen(port, host, () => {
      const { port: p } = server.address();
      resolve({ server, url: `http://${host}:${p}/`, close: () => new Promise((r) => server.close(r)) });
    });
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const port = Number(process.env.DEV_PORT || 8787);
  const { url } = await startDevServer({ port });
  console.log(`My Data page (assets from ${ASSETS_DIR}) at ${url}`);
}
