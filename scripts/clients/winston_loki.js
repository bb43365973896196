// winston-loki (npm) pushing into Sluice, by protobuf+snappy and by JSON,
// read back. Usage: node winston_loki.js http://127.0.0.1:3100
const winston = require('winston');
const LokiTransport = require('winston-loki');

const base = process.argv[2].replace(/\/$/, '');
const run = String(Date.now());
const N = 15;

function fail(msg) {
  console.error(`winston-loki: ${msg}`);
  process.exit(1);
}

async function query(q) {
  const now = BigInt(Date.now()) * 1000000n;
  const params = new URLSearchParams({
    query: q,
    start: String(now - 3600n * 1000000000n),
    end: String(now + 1000000000n),
    limit: '1000',
    direction: 'forward',
  });
  const r = await fetch(`${base}/loki/api/v1/query_range?${params}`);
  if (!r.ok) fail(`query ${q}: ${r.status} ${await r.text()}`);
  return r.json();
}

async function main() {
  for (const json of [false, true]) {
    const mode = json ? 'json' : 'protobuf';
    const transport = new LokiTransport({
      host: base,
      labels: { app: 'winston', run, mode },
      json,
      batching: false,
      onConnectionError: (e) => fail(`push (${mode}): ${e}`),
    });
    const logger = winston.createLogger({ transports: [transport] });
    for (let i = 0; i < N; i++) logger.info(`winston ${mode} line ${i}`);
    let got = [];
    for (let t = 0; t < 50 && got.length < N; t++) {
      await new Promise((r) => setTimeout(r, 100));
      const v = await query(`{app="winston", run="${run}", mode="${mode}"}`);
      // winston-loki appends the record's metadata: `line {"level":"info"}`
      got = v.data.result.flatMap((s) => s.values.map((e) => e[1].replace(/ \{.*\}$/, '')));
    }
    got.sort();
    const want = [...Array(N).keys()].map((i) => `winston ${mode} line ${i}`).sort();
    if (JSON.stringify(got) !== JSON.stringify(want)) fail(`${mode}: got ${JSON.stringify(got)}`);
    console.log(`winston-loki (${mode}): ${N} entries pushed and read back`);
    logger.close();
  }
  process.exit(0);
}

main().catch((e) => fail(String(e)));
