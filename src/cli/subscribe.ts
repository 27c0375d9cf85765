/** `pushwire subscribe`: wired to the client SDK. */
export async function runSubscribe(_argv: string[]): Promise<number> {
  console.error('pushwire subscribe: not available yet');
  return 1;
}
