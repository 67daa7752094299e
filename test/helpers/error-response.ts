/** Assertions on the server's error answers: `{"error": {"code", "message", ...}}`. */
import { expect } from 'vitest';

/** `res` has `status` and the stable error `code`, with a message a person can read. */
export async function expectError(res: Response, status: number, code: string): Promise<void> {
  const text = await res.text();
  expect({ status: res.status, text }).toMatchObject({ status });
  const body = JSON.parse(text) as { error: { code: string; message: string } };
  expect(body.error.code).toBe(code);
  expect(body.error.message.length).toBeGreaterThan(5);
}
