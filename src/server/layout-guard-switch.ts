/**
 * The filesystem's layout guard on a server: the pin policy's guard, or one a
 * caller sets in its place (setLayoutGuard), unless the test-only path
 * bypasses every guard for a moment (test.freeBehindMr). Guards go through
 * here, not fs.setLayoutGuard, so the bypass keeps working.
 */
import type { FileSystem, LayoutGuard, LayoutPolicy } from '../memory/index.ts'

export class LayoutGuardSwitch {
  private guard: LayoutGuard
  private bypassed = false

  constructor(fs: FileSystem, private readonly policy: LayoutPolicy) {
    this.guard = policy.guard
    fs.setLayoutGuard((ino, frames, op, info) => (this.bypassed ? 'proceed' : this.guard(ino, frames, op, info)))
  }

  /** Replace the guard (null: back to the configured policy's). */
  set(guard: LayoutGuard | null): void {
    this.guard = guard ?? this.policy.guard
  }

  /** Run `fn` with every layout change let through. TEST ONLY. */
  async bypass<T>(fn: () => Promise<T>): Promise<T> {
    this.bypassed = true
    try {
      return await fn()
    } finally {
      this.bypassed = false
    }
  }
}
