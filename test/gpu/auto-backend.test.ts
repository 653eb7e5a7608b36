// 'auto' in Node where WebGPU's only adapter is lavapipe (a CPU rasteriser, the set-up of
// scripts/setup-webgpu.sh): the CPU backend runs, and the library, the SDK and the CLI say why —
// the CLI in its one summary line, with no Dawn warning on stderr.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test, vi } from 'vitest';
import { createBackend } from '../../src/create-backend.js';
import { nodeCpuOptions } from '../../src/cpu/node.js';
import { nodeGPU } from '../../src/gpu/node-gpu.js';
import { missingVulkanDriver, softwareVulkanOnly } from '../../src/gpu/vulkan-drivers.js';
import { openModel } from '../../src/model/model.js';
import { readShared, sharedPath } from '../helpers/shared.js';
import { describeGpu, gpu } from './context.js';

const MODEL = sharedPath('models/stories260K/stories260K.gguf');
const repo = new URL('../../', import.meta.url);
const tmp = mkdtempSync(join(tmpdir(), 'was-edge-auto-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** The CLI as a user runs it (bin/ over dist/), stdout and stderr apart. */
function cli(env: NodeJS.ProcessEnv, ...args: string[]): { out: string; err: string; code: number } {
  const r = spawnSync(process.execPath, ['bin/was-edge.mjs', ...args], { cwd: repo, env, encoding: 'utf8' });
  return { out: r.stdout, err: r.stderr, code: r.status ?? -1 };
}

describeGpu("'auto' in Node on lavapipe", () => {
  test('the adapter is lavapipe (software): what this file is about', () => {
    expect(`${gpu.adapterInfo.description} ${gpu.adapterInfo.device}`).toMatch(/llvmpipe|lavapipe/i);
  });

  test('createBackend: the adapter check (no driver look-up) picks the CPU and says why', async () => {
    const model = openModel(readShared('models/stories260K/stories260K.gguf'));
    let note = '';
    const backend = await createBackend('auto', model, { platform: { gpu: nodeGPU, cpu: nodeCpuOptions(1) }, onNote: (n) => { note = n; } });
    try {
      expect(backend.name).toBe('cpu');
      expect(note).toMatch(/software one \(.*llvmpipe/i);
    } finally {
      backend.dispose();
    }
  });

  test('createBackend: the driver look-up answers first, without starting WebGPU', async () => {
    const model = openModel(readShared('models/stories260K/stories260K.gguf'));
    const software = softwareVulkanOnly();
    expect(software, `VK_DRIVER_FILES=${process.env.VK_DRIVER_FILES}`).toMatch(/lvp/);
    const gpuGetter = vi.fn(nodeGPU);
    let note = '';
    const backend = await createBackend('auto', model, {
      platform: { gpu: gpuGetter, cpu: nodeCpuOptions(1), softwareOnly: () => softwareVulkanOnly() }, onNote: (n) => { note = n; },
    });
    backend.dispose();
    expect(backend.name).toBe('cpu');
    expect(gpuGetter).not.toHaveBeenCalled();
    expect(note).toMatch(/software one \(libvulkan_lvp\.so\)/);
  });

  test('the SDK (createEngine from the built was-edge/node): ModelInfo.backend and backendNote', async () => {
    const dist = new URL('../../dist/node.js', import.meta.url);
    if (!existsSync(dist)) throw new Error('dist/ is not built: run `npm run build` first');
    const { createEngine } = (await import(dist.href)) as typeof import('../../src/node.js');
    const engine = createEngine();
    try {
      const info = await engine.load(MODEL);
      expect(info.backend).toBe('cpu');
      expect(info.backendNote).toMatch(/software one \(libvulkan_lvp\.so\); using the CPU backend/);
      expect((await engine.generate('Once upon a time', { maxTokens: 4 }).result).backend).toBe('cpu');
    } finally {
      await engine.dispose();
    }
  });

  test('the CLI: the text on stdout, one summary line on stderr naming the reason, no Dawn warning', () => {
    const r = cli(process.env, 'generate', '--model', MODEL, '--prompt', 'Once upon a time', '--max-tokens', '8');
    expect(r.code, r.err).toBe(0);
    expect(r.out.startsWith('Once upon a time')).toBe(true);
    expect(r.err).toMatch(/^\[8 tokens, [\d.]+ tok\/s, cpu: the only WebGPU adapter here would be a software one \(libvulkan_lvp\.so\), finish: length\]\n$/);
  });

  test('with no Vulkan driver at all: the same one line, no "vkCreateInstance: Found no drivers!"', (ctx) => {
    const env: NodeJS.ProcessEnv = { ...process.env, XDG_CONFIG_DIRS: tmp, XDG_DATA_DIRS: tmp, XDG_DATA_HOME: tmp };
    delete env.VK_DRIVER_FILES;
    delete env.VK_ICD_FILENAMES;
    delete env.VK_ADD_DRIVER_FILES;
    const reason = missingVulkanDriver(env);
    if (!reason) ctx.skip('this machine has a system-wide Vulkan driver (/etc/vulkan/icd.d or /usr/local/etc/vulkan/icd.d)');
    const r = cli(env, 'generate', '--model', MODEL, '--max-tokens', '4');
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/^\[4 tokens, [\d.]+ tok\/s, cpu: no WebGPU adapter \(no Vulkan driver is installed\), finish: length\]\n$/);
  });
});
