// Long polls in Node over node:http rather than the global fetch. A poll's answer is read
// whole and small; undici's fetch builds a Response, Headers and a web stream for each one,
// most of a poll's cost to the client (measured in docs/benchmarks.md). Only the Node entry
// imports this; the browser bundle never sees it.
import { type Agent, request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { GetFunction, HttpAnswer } from './transports/types.ts';

/**
 * A GET whose whole answer is read before it resolves, through `agent` (Node's keep-alive
 * agents by default). As fetch, it rejects with the signal's reason when aborted, and on a
 * network failure; it follows no redirects.
 */
export function nodeGet(agent: Agent | undefined): GetFunction {
  return (url, init) =>
    new Promise<HttpAnswer>((resolve, reject) => {
      const signal = init?.signal;
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const request = url.startsWith('https:') ? httpsRequest : httpRequest;
      const req = request(url, agent ? { agent } : {}, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve(answerOf(res, Buffer.concat(chunks).toString('utf8'))));
        res.on('error', reject);
      });
      const abort = () => req.destroy(signal!.reason);
      // The long poll shares one signal between its polls: leave it as found.
      signal?.addEventListener('abort', abort, { once: true });
      req.on('close', () => signal?.removeEventListener('abort', abort));
      req.on('error', reject);
      req.end();
    });
}

function answerOf(res: IncomingMessage, text: string): HttpAnswer {
  const status = res.statusCode ?? 0;
  return {
    status,
    ok: status >= 200 && status < 300,
    headers: {
      get(name) {
        const value = res.headers[name.toLowerCase()];
        return value === undefined ? null : Array.isArray(value) ? value.join(', ') : value;
      },
    },
    json: async () => JSON.parse(text) as unknown,
  };
}
