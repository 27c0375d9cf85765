export type { GapEvent, GapReason, Message } from '../protocol/index.ts';
export { Pushwire } from './pushwire.ts';
export { ServerError } from './server-error.ts';
export type {
  BackoffOptions,
  ConnectionState,
  EventSourceConstructor,
  EventSourceLike,
  FetchFunction,
  MessageHandler,
  PublishResult,
  PushwireEvents,
  PushwireOptions,
  TransportName,
  WebSocketConstructor,
  WebSocketLike,
} from './types.ts';
