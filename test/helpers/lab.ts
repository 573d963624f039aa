// Test helper: a fresh lab under a random prefix for the duration of `fn`, always torn down afterwards.
import { labDown, labUp, randomPrefix, LabInfo } from '../../src/lab';

export async function withLab<T>(fn: (lab: LabInfo) => Promise<T>, opts: { prefix?: string } = {}): Promise<T> {
  const prefix = opts.prefix ?? randomPrefix();
  try {
    const lab = await labUp({ prefix });
    return await fn(lab);
  } finally {
    await labDown({ prefix });
  }
}
