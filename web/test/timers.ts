import { act } from '@testing-library/react';
import { vi } from 'vitest';

/** Fake timers and Date; promises and I/O stay real. */
export function useFakeClock(): void {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
}

/** Advances the fake clock by ms, letting every promise settle, inside act(). */
export async function tick(ms = 0): Promise<void> {
  await act(async () => {
    await vi.advanceTimersByTimeAsync(ms);
  });
  // Responses are read asynchronously: let those settle too.
  for (let i = 0; i < 3; i++) {
    await act(async () => {
      await new Promise((r) => setImmediate(r));
      await vi.advanceTimersByTimeAsync(0);
    });
  }
}
