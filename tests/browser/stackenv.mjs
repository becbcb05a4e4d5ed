// Reads .local/stack.env (KEY=VALUE lines written by infra/deploy.py); the environment wins.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(HERE, "../..");

export function readStackEnv() {
  const file = process.env.STACK_ENV || path.join(REPO, ".local/stack.env");
  const env = {};
  let text = "";
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    throw new Error(`${file} not found: start the local stack first (make up)`);
  }
  for (const line of text.split("\n")) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) env[m[1]] = m[2];
  }
  for (const k of Object.keys(env)) if (process.env[k]) env[k] = process.env[k];
  if (!env.API_URL) throw new Error(`${file} has no API_URL`);
  return env;
}
