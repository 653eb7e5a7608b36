// WGSL sources are imported as strings; rollup.config.mjs's `wgsl` plugin makes them string modules.
declare module '*.wgsl' {
  const source: string;
  export default source;
}
