// Whether a UI can be drawn here: both ends of the session are a terminal.
export function hasTerminal(): boolean {
  return process.stdout.isTTY === true && process.stdin.isTTY === true;
}
