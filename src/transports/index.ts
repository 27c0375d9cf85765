export { HeartbeatWheel } from './heartbeat.ts';
export { sendError, sendJson } from './http-util.ts';
export { servePoll } from './longpoll.ts';
export { serveSse } from './sse.ts';
export { serveNdjsonStream } from './stream.ts';
export type { SubscribeParams, TransportContext, TransportName } from './types.ts';
export { serveWebSocket } from './websocket.ts';
