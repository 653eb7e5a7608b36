// WGSL sources are imported as strings; rollup.config.mjs's `wgsl` plugin makes them string modules.
declare module '*.wgsl' {
  const source: string;
  export default source;
}

// The prebuilt schedules' catalogue, generated from schedules/ by rollup.config.mjs's `prebuiltSchedules`.
declare module 'virtual:was-edge-schedules' {
  const catalogue: Record<string, () => Promise<unknown>>;
  export default catalogue;
}
