// The page and its own engine worker, each one file: was-edge and its comlink come from node_modules.
import nodeResolve from '@rollup/plugin-node-resolve';
import esbuild from 'rollup-plugin-esbuild';

export default {
  input: { main: 'src/main.ts', 'engine-worker': 'src/engine-worker.ts' },
  output: { dir: 'dist', format: 'es', entryFileNames: '[name].js', chunkFileNames: '[name]-[hash].js' },
  plugins: [nodeResolve({ browser: true, extensions: ['.ts', '.js'] }), esbuild({ target: 'es2022' })],
};
