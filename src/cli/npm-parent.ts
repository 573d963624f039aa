// Started through npm (`npx calitrace …`, an npm script), calitrace is npm → sh → node, and a signal to
// the pid the shell knows (`kill $!`) stops npm and the shell only: they do not pass it on. So, under
// npm, calitrace watches the process that started it and stops as if sent SIGTERM when it goes — the
// session then detaches from every interface and prints its last line, as for any stop.
// (bin/calitrace on PATH avoids the chain altogether: the shell's pid is calitrace's.)

/** npm sets these for every process it runs (npm exec, npm run). */
export function startedByNpm(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.npm_command !== undefined || env.npm_lifecycle_event !== undefined;
}

export function stopWithNpmParent(intervalMs = 500): void {
  if (!startedByNpm()) return;
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    process.kill(process.pid, 'SIGTERM');
  }, intervalMs);
  timer.unref();
}
