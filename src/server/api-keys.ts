import type { IncomingMessage } from 'node:http';
import { PushwireError } from '../protocol/index.ts';
import { apiKeyMatches, bearerToken } from './auth.ts';

/**
 * Who may call the server API. The API key is the application backend's: it publishes and
 * disconnects users (`app`). The admin key is the operator's: it may do that too, and
 * everything else under /api (`admin`).
 */
export class ApiKeys {
  private readonly apiKeyBytes: Buffer;
  private readonly adminKeyBytes: Buffer | null;

  constructor(apiKey: string, adminKey: string | null) {
    this.apiKeyBytes = Buffer.from(apiKey);
    this.adminKeyBytes = adminKey === null ? null : Buffer.from(adminKey);
  }

  /** Throws `unauthorized` unless the request's bearer key grants `role`. */
  require(req: IncomingMessage, role: 'app' | 'admin'): void {
    const given = bearerToken(req, null);
    const bytes = given === null ? null : Buffer.from(given);
    const admin = this.adminKeyBytes !== null && apiKeyMatches(bytes, this.adminKeyBytes);
    if (admin || (role === 'app' && apiKeyMatches(bytes, this.apiKeyBytes))) return;
    if (given === null) {
      throw new PushwireError(
        'unauthorized',
        role === 'app'
          ? 'publishing needs the API key: Authorization: Bearer <key>'
          : 'this endpoint needs the admin key: Authorization: Bearer <admin key>',
      );
    }
    throw new PushwireError(
      'unauthorized',
      role === 'app'
        ? 'the API key is wrong: use the key the server was started with'
        : 'this endpoint needs the admin key (the API key is not one)',
    );
  }
}
