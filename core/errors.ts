// Exit codes are part of the CLI contract (README "Exit codes").
export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 2,
  invalidConfig: 3,
  verification: 4,
  tool: 5,
  refused: 6,
} as const;

/** An error meant for the user: printed as its message, no stack trace, with a specific exit code. */
export class UserError extends Error {
  constructor(message: string, readonly exitCode: number = EXIT.failure, readonly hint?: string) {
    super(message);
    this.name = 'UserError';
  }
}
