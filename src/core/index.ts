export { Hub, type HubOptions, type HubStats } from './hub.ts';
export { concatEncoded, OutboundBatch, OutboundMessage } from './outbound.ts';
export { Session } from './session.ts';
export {
  ANONYMOUS,
  type ChannelOptions,
  type CloseRequest,
  type Identity,
  type OpenSessionOptions,
  type PollWaiter,
  type SessionSink,
  type SubscribeStart,
} from './types.ts';
