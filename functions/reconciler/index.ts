/** Placeholder until the reconciler lands. */
export async function handler(): Promise<{ ran: string[] }> {
  return { ran: [] };
}
