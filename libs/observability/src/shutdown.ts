/**
 * Bounded graceful shutdown. Nest's shutdown hooks close servers, BullMQ workers and Redis clients,
 * but nothing bounds them: `worker.close()` waits for active jobs "and will not time out by itself"
 * (BullMQ docs), and closing a queue whose Redis is down can wait for ever. So on SIGTERM/SIGINT we
 * start the close, and exit when it ends or when the grace runs out, whichever is first. The grace
 * should be below the orchestrator's (k8s terminationGracePeriodSeconds), so the process exits on
 * its own terms, not by SIGKILL.
 */
export interface ShutdownOptions {
  /**
   * What to close (e.g. `() => app.close()`). Absent: something else closes (Nest's own shutdown
   * hooks, which then re-raise the signal), and this only bounds how long that may take.
   */
  close?: () => Promise<void>;
  graceMs: number;
  log: (msg: string, fields?: Record<string, unknown>) => void;
  /** Called first, synchronously: flip readiness so the load balancer stops sending work. */
  onSignal?: () => void;
  /** For tests; default process.exit. */
  exit?: (code: number) => void;
  signals?: NodeJS.Signals[];
}

export function installBoundedShutdown(opts: ShutdownOptions): { trigger: (signal: string) => Promise<void> } {
  const exit = opts.exit ?? ((code: number) => process.exit(code));
  let started: Promise<void> | undefined;
  const trigger = (signal: string): Promise<void> => {
    if (started) return started;
    opts.onSignal?.();
    const t0 = Date.now();
    opts.log('shutting down', { signal, graceMs: opts.graceMs });
    started = new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        opts.log('grace period over: exiting with work still closing', { signal, elapsedMs: Date.now() - t0 });
        exit(1);
        resolve();
      }, opts.graceMs);
      timer.unref();
      if (!opts.close) return;
      opts.close().then(
        () => {
          clearTimeout(timer);
          opts.log('closed', { signal, elapsedMs: Date.now() - t0 });
          exit(0);
          resolve();
        },
        (err: unknown) => {
          clearTimeout(timer);
          opts.log('close failed', { signal, elapsedMs: Date.now() - t0, error: (err as Error).message });
          exit(1);
          resolve();
        },
      );
    });
    return started;
  };
  for (const signal of opts.signals ?? (['SIGTERM', 'SIGINT'] as NodeJS.Signals[])) process.once(signal, () => void trigger(signal));
  return { trigger };
}
