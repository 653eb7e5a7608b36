// Puts the built SDK (dist/index.js, which starts dist/worker.js) on window for the test to drive
// with page.evaluate(); the result says the module graph loaded.
import * as wasEdge from '/dist/index.js';

window.wasEdge = wasEdge;
window.__result = { loaded: true };
