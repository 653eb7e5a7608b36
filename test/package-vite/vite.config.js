// The one setting was-edge needs in Vite (README, "Install in your app"): its worker imports chunks
// (Wasm loader, schedules), which Vite's default 'iife' worker format cannot hold.
export default {
  base: './', // served under /app/ by the test
  worker: { format: 'es' },
  build: { target: 'es2022' },
};
