// Row 7 of the benchmarks: the gzip -9 size of the built client package (the wasm, its JS glue and
// the snippets the glue imports, which every page loads). run.mjs builds the row from it; run alone
// it prints the figures, so a size change can be measured without the browser rows:
//
//   node bench/browser/package-size.mjs [PKG_DIR]     (default www/pkg)
import { gzipSync } from 'node:zlib';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

/** The package's gzipped and raw sizes in KB (1000 bytes). */
export function packageSize(pkg) {
  const gz = name => gzipSync(fs.readFileSync(path.join(pkg, name)), { level: 9 }).length / 1000;
  const raw = name => fs.statSync(path.join(pkg, name)).size / 1000;
  // The JS the glue imports from snippets/ (the hashing workers' js/hash_pool.js) ships too.
  // wasm-bindgen writes `import { X } from './snippets/…'` or `import * as importN from "./snippets/…"`.
  const snippets = [...new Set([...fs.readFileSync(path.join(pkg, 'partup.js'), 'utf8')
    .matchAll(/from ['"]\.\/(snippets\/[^'"]+)['"]/g)].map(m => m[1]))];
  const wasmKb = gz('partup_bg.wasm');
  const jsKb = gz('partup.js');
  const snippetsKb = snippets.reduce((sum, name) => sum + gz(name), 0);
  // A page loads one of the two builds: the scalar one is counted, the SIMD128 one (loaded where the
  // engine runs SIMD) is reported beside it.
  const simd = fs.existsSync(path.join(pkg, 'partup_simd_bg.wasm'))
    ? `; the SIMD128 build's wasm (loaded instead where SIMD runs) ${gz('partup_simd_bg.wasm').toFixed(1)} KB gzipped`
    : '';
  return {
    totalKb: wasmKb + jsKb + snippetsKb,
    detail: `wasm ${wasmKb.toFixed(1)} KB + JS glue ${jsKb.toFixed(1)} KB + ${snippets.length} snippet(s) ` +
      `${snippetsKb.toFixed(1)} KB gzipped; raw ${raw('partup_bg.wasm').toFixed(1)} KB + ${raw('partup.js').toFixed(1)} KB${simd}`,
  };
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { totalKb, detail } = packageSize(process.argv[2] ?? 'www/pkg');
  console.log(`${totalKb.toFixed(1)} KB gzipped (budget 80 KB): ${detail}`);
}
