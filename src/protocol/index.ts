export { assertChannel, isSystemChannel, MAX_CHANNEL_LENGTH, namespaceOf } from './channel.ts';
export {
  type ClientCommand,
  type CommandId,
  encodeErrorFrame,
  encodeReplyFrame,
  MAX_TOKEN_LENGTH,
  type ParsedCommand,
  parseClientCommand,
  tokenOf,
} from './commands.ts';
export {
  type Cursor,
  composeCursor,
  cursorSegment,
  decodeCursor,
  EMPTY_CURSOR,
  encodeCursor,
  isValidEpoch,
  MAX_CURSOR_LENGTH,
} from './cursor.ts';
export { ERROR_MESSAGES } from './error-messages.ts';
export {
  asPushwireError,
  closeCodeMeansReconnect,
  closeCodeOf,
  ERROR_CODES,
  type ErrorBody,
  type ErrorCode,
  errorCodeOfClose,
  FULL_SERVER_RETRY_AFTER_S,
  isErrorCode,
  PushwireError,
  retryAfterSecondsOf,
} from './errors.ts';
export {
  type JsonFields,
  type JsonScan,
  MAX_JSON_DEPTH,
  parseRawJson,
  type RawJson,
  scanJsonObject,
  scanJsonObjectList,
  scanJsonValue,
} from './json-scan.ts';
export type {
  ConnectedEvent,
  GapEvent,
  GapReason,
  Message,
  Publication,
  ReconnectEvent,
  StreamPosition,
} from './message.ts';
export {
  fieldValue,
  type PublishInput,
  publicationOfValue,
  readEnvelope,
  readPublication,
  readPublications,
  validatePublication,
} from './publication.ts';
export {
  parseTransportName,
  TRANSPORT_ALIASES,
  TRANSPORT_NAMES,
  type TransportName,
  transportNamesHint,
} from './transport-names.ts';
