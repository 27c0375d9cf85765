/**
 * What `ps` shows for the processes of `serve --workers`. Linux keeps the first 15 bytes as the
 * process name (/proc/PID/comm); `pushwire reload` checks the pid file's process starts with
 * PROCESS_NAME_PREFIX before it signals it, so a stale pid file can't signal a stranger.
 */
export const PRIMARY_TITLE = 'pushwire primary';
export const WORKER_TITLE = 'pushwire worker';
export const PROCESS_NAME_PREFIX = 'pushwire';
