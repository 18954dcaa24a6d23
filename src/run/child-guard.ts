/**
 * Preloaded (`node --require`) into every child of `klinestream run`: when the parent goes away without
 * stopping its children (killed with SIGKILL, crashed), the IPC channel to it closes, and the child stops
 * itself as on SIGTERM (a clean stop: last flush, commit, leave the group), so no process is left behind.
 * The channel is unref'd: it never keeps a child alive by itself.
 */
const channel = (process as { channel?: { unref(): void } }).channel;
if (channel !== undefined) {
  channel.unref();
  process.once('disconnect', () => {
    process.kill(process.pid, 'SIGTERM');
    // A clean stop that hangs must not outlive the parent for long.
    setTimeout(() => process.exit(1), 30_000).unref();
  });
}
