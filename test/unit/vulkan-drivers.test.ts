// The Vulkan driver look-up that keeps Dawn from starting (and warning on stderr) where it would find
// no driver or only a software one.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { missingVulkanDriver, softwareVulkanOnly, vulkanDriverFiles } from '../../src/gpu/vulkan-drivers.js';

const tmp = mkdtempSync(join(tmpdir(), 'was-edge-vk-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function manifest(dir: string, file: string, library: string): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, file);
  writeFileSync(path, JSON.stringify({ file_format_version: '1.0.0', ICD: { library_path: library, api_version: '1.3.0' } }));
  return path;
}

const lvp = manifest(join(tmp, 'a'), 'lvp_icd.x86_64.json', '/usr/lib/x86_64-linux-gnu/libvulkan_lvp.so');
const swiftshader = manifest(join(tmp, 'b'), 'vk_swiftshader_icd.json', './libvk_swiftshader.so');
const nvidia = manifest(join(tmp, 'c'), 'nvidia_icd.json', 'libGLX_nvidia.so.0');

test('VK_DRIVER_FILES (files or folders) is what the loader uses', () => {
  expect(vulkanDriverFiles({ VK_DRIVER_FILES: `${lvp}:${join(tmp, 'b')}` }, 'linux')).toEqual([lvp, swiftshader]);
  expect(vulkanDriverFiles({ VK_ICD_FILENAMES: nvidia }, 'linux')).toEqual([nvidia]);
  expect(vulkanDriverFiles({ VK_DRIVER_FILES: lvp }, 'darwin')).toBeNull();
});

test('only software drivers: named; any hardware one: null', () => {
  expect(softwareVulkanOnly({ VK_DRIVER_FILES: lvp }, 'linux')).toBe('libvulkan_lvp.so');
  expect(softwareVulkanOnly({ VK_DRIVER_FILES: `${lvp}:${swiftshader}` }, 'linux')).toBe('libvulkan_lvp.so, libvk_swiftshader.so');
  expect(softwareVulkanOnly({ VK_DRIVER_FILES: `${lvp}:${nvidia}` }, 'linux')).toBeNull();
  expect(softwareVulkanOnly({ VK_DRIVER_FILES: nvidia }, 'linux')).toBeNull();
  expect(softwareVulkanOnly({ VK_DRIVER_FILES: join(tmp, 'none.json') }, 'linux')).toBeNull();
});

test('no driver at all: a reason; one in $XDG_DATA_HOME/vulkan/icd.d: none', () => {
  expect(missingVulkanDriver({ VK_DRIVER_FILES: join(tmp, 'none.json') }, 'linux')).toMatch(/no Vulkan driver/);
  expect(missingVulkanDriver({ VK_DRIVER_FILES: lvp }, 'linux')).toBeNull();
  const home = join(tmp, 'home');
  manifest(join(home, 'vulkan/icd.d'), 'radeon_icd.json', 'libvulkan_radeon.so');
  expect(missingVulkanDriver({ XDG_DATA_HOME: home }, 'linux')).toBeNull();
  expect(vulkanDriverFiles({ XDG_DATA_HOME: home }, 'linux')).toContain(join(home, 'vulkan/icd.d/radeon_icd.json'));
  expect(missingVulkanDriver({}, 'win32')).toBeNull();
});
