import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';

/** AWS's documented example credentials, with a session token that needs escaping. */
export const EXAMPLE_CREDENTIALS = {
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
  sessionToken: 'IQoJb3JpZ2luX2VjEXAMPLE//token+with/slashes=',
};

export const SIGNING_DATE = new Date('2026-12-02T10:15:30.123Z');

/**
 * The SDK's hash interface over node:crypto (what its Node runtime config plugs in), so the SDK's
 * own `SignatureV4` can be the reference the lean signer is checked against.
 */
export class Sha256 {
  private readonly h: Hash | Hmac;
  constructor(secret?: unknown) {
    this.h = secret ? createHmac('sha256', secret as string | Uint8Array) : createHash('sha256');
  }
  update(data: Uint8Array): void {
    this.h.update(data);
  }
  async digest(): Promise<Uint8Array> {
    return this.h.digest();
  }
}
