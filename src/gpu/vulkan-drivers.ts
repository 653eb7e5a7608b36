// The Vulkan drivers dawn.node would find on Linux, looked up as the Vulkan loader does (Khronos,
// LoaderDriverInterface.md, "Driver Discovery on Linux") without starting Dawn: with no driver Dawn
// prints `Warning: vkCreateInstance: Found no drivers!` and a stack line, and on lavapipe two
// `maxDynamic… artificially reduced` warnings, to stderr on every start — noise a library must not
// make when the answer (no GPU, or only a CPU one) is known beforehand.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, join } from 'node:path';

/** Drivers that rasterise on the CPU (slower than the Wasm CPU backend). */
const SOFTWARE_DRIVER = /lvp|lavapipe|llvmpipe|swiftshader|softpipe/i;

function jsonFiles(path: string): string[] {
  try {
    if (statSync(path).isDirectory()) return readdirSync(path).filter((f) => f.endsWith('.json')).sort().map((f) => join(path, f));
    return [path];
  } catch {
    return []; // absent or unreadable: the loader skips it too
  }
}

/** The driver manifests (ICD JSON files) the Vulkan loader would read; null off Linux (not known here). */
export function vulkanDriverFiles(env: NodeJS.ProcessEnv = process.env, platform: string = process.platform): string[] | null {
  if (platform !== 'linux') return null;
  const explicit = env.VK_DRIVER_FILES || env.VK_ICD_FILENAMES;
  const added = (env.VK_ADD_DRIVER_FILES ?? '').split(':').filter(Boolean).flatMap(jsonFiles);
  if (explicit) return [...explicit.split(':').filter(Boolean).flatMap(jsonFiles), ...added];
  const configDirs = (env.XDG_CONFIG_DIRS || '/etc/xdg').split(':');
  const dataDirs = (env.XDG_DATA_DIRS || '/usr/local/share:/usr/share').split(':');
  const dataHome = env.XDG_DATA_HOME || join(env.HOME || homedir(), '.local/share');
  const dirs = [...configDirs, '/etc', '/usr/local/etc', ...dataDirs, dataHome].filter(Boolean).map((d) => join(d, 'vulkan/icd.d'));
  return [...dirs.flatMap(jsonFiles), ...added];
}

/** A driver manifest's name for messages: its library (e.g. libvulkan_lvp.so), else its file name. */
function driverName(file: string): string {
  try {
    const lib = (JSON.parse(readFileSync(file, 'utf8')) as { ICD?: { library_path?: unknown } }).ICD?.library_path;
    if (typeof lib === 'string') return basename(lib);
  } catch {
    // unreadable: judged by its file name
  }
  return basename(file);
}

/** Why no Vulkan driver can be used here, or null when one may be (or off Linux). */
export function missingVulkanDriver(env: NodeJS.ProcessEnv = process.env, platform: string = process.platform): string | null {
  const files = vulkanDriverFiles(env, platform);
  if (files === null || files.length > 0) return null;
  return 'no Vulkan driver is installed (no driver manifest in /usr/share/vulkan/icd.d or the other places the Vulkan loader looks)';
}

/** The drivers' names when every Vulkan driver here is a software rasteriser (lavapipe, SwiftShader); else null. */
export function softwareVulkanOnly(env: NodeJS.ProcessEnv = process.env, platform: string = process.platform): string | null {
  const files = vulkanDriverFiles(env, platform);
  if (!files?.length) return null;
  const names = files.map((f) => `${basename(f)} ${driverName(f)}`);
  return names.every((n) => SOFTWARE_DRIVER.test(n)) ? files.map(driverName).join(', ') : null;
}
