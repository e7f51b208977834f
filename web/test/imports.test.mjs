// The web client's modules import one another as a tree: a feature that
// must tell one above it about a change emits an event (src/state.js)
// instead of importing it. A cycle would make the load order matter and
// each module harder to change alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const web = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

function importsOf(file) {
  const text = readFileSync(path.join(web, file), 'utf8');
  return [...text.matchAll(/^import [^;]*? from '(\.[^']+)';/gms)].map((m) => path.normalize(path.join(path.dirname(file), m[1])));
}

test('the modules of web/src import one another without a cycle', () => {
  const files = ['app.js', ...readdirSync(path.join(web, 'src')).filter((f) => f.endsWith('.js')).map((f) => `src/${f}`)];
  const graph = new Map(files.map((f) => [f, importsOf(f)]));
  for (const [file, deps] of graph) for (const dep of deps) assert.ok(graph.has(dep), `${file} imports ${dep}, which is not there`);
  const done = new Set();
  const walk = (file, trail) => {
    assert.ok(!trail.includes(file), `an import cycle: ${[...trail, file].join(' → ')}`);
    if (done.has(file)) return;
    for (const dep of graph.get(file)) walk(dep, [...trail, file]);
    done.add(file);
  };
  walk('app.js', []);
  // Every module is reached from the entry point: none is left over.
  assert.deepEqual(files.filter((f) => !done.has(f)), []);
});
