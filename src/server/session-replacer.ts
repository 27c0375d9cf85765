import type { Hub, Identity } from '../core/index.ts';
import type { ClusterNode } from './cluster-node.ts';
import type { ReplaceTarget } from './request-input.ts';

/**
 * Ends the connection a reconnecting client names (`?replaces=<clientId>&replaceKey=<key>`),
 * on whichever node holds it. A network that drops without a FIN or RST (mobile, NAT) leaves
 * the server half of an SSE or stream response open until TCP gives up, minutes later; the
 * client that comes back knows its old connection is dead, so it says so and the server ends
 * that session at once, before the new one opens.
 */
export class SessionReplacer {
  constructor(
    private readonly hub: Hub,
    private readonly node: ClusterNode,
    private readonly report: (stage: string, error: unknown) => void,
  ) {
    node.handle('replace', (body) => {
      const { clientId, key, user } = body as { clientId?: unknown; key?: unknown; user?: unknown };
      if (
        typeof clientId !== 'string' ||
        typeof key !== 'string' ||
        !(typeof user === 'string' || user === null)
      )
        throw new Error('replace needs clientId, key and user');
      return hub.replace(clientId, key, user);
    });
  }

  /** Never fails the new connection: an old one that is already gone is nothing to replace. */
  replace(target: ReplaceTarget, identity: Identity): void {
    const user = identity.userId;
    if (this.hub.replace(target.clientId, target.key, user)) return;
    // The balancer may have sent the new connection to another node than the old one.
    this.node
      .broadcast('replace', { clientId: target.clientId, key: target.key, user })
      .catch((error: unknown) => this.report('replace', error));
  }
}
