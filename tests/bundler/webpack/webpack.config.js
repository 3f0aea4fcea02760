// webpack 5 needs nothing partup-specific: `new Worker(new URL('./hash_pool.js', import.meta.url))`
// inside the package becomes a worker chunk, `new URL('partup_bg.wasm', import.meta.url)` an asset.
import path from 'node:path';

export default {
  entry: './app.js',
  output: { path: path.resolve(import.meta.dirname, 'dist'), clean: true },
};
