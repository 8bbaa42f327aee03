/**
 * The conversation as Lua steps hand it back: the hash fields they read with
 * HMGET (in this order) and how a reply's slice of them becomes a
 * Conversation. Shared by the store's append step and the pivot ledger's
 * steps, so a conversation reads the same whichever script answered.
 * Scripts may test fields by position: `c[1]` channel, `c[2]` status,
 * `c[3]` secure.
 */
import type { Conversation, PublicChannel, SecureState } from '../messages';

export const CONVERSATION_FIELDS = ['channel', 'status', 'secure', 'externalUserId', 'lastMessageMs', 'createdAt'] as const;

/** The Lua expression that reads CONVERSATION_FIELDS from the hash at `key` (e.g. `KEYS[1]`). */
export function readConversationLua(key: string): string {
  return `redis.call('HMGET', ${key}, ${CONVERSATION_FIELDS.map((field) => `'${field}'`).join(', ')})`;
}

/**
 * The conversation from CONVERSATION_FIELDS values starting at `reply[from]`
 * (read in place, no copy of the reply); absent when the hash lacks a field
 * the store always writes. `known` is a time the caller already formatted
 * (an append's message time, usually the conversation's last activity):
 * reused when it is `lastMessageMs`, as formatting a Date costs more than the rest.
 */
export function conversationFromFields(id: string, reply: ReadonlyArray<string | null | undefined>, from = 0, known?: { ms: string; iso: string }): Conversation | undefined {
  const channel = reply[from];
  const status = reply[from + 1];
  const secure = reply[from + 2];
  const externalUserId = reply[from + 3];
  const lastMessageMs = reply[from + 4];
  const createdAt = reply[from + 5];
  if (!channel || !createdAt) return undefined;
  return {
    id,
    channel: channel as PublicChannel,
    externalUserId: externalUserId ?? '',
    status: status === 'closed' ? 'closed' : 'open',
    secure: (secure as SecureState | null | undefined) ?? 'none',
    lastMessageAt: !lastMessageMs ? createdAt : lastMessageMs === known?.ms ? known.iso : new Date(Number(lastMessageMs)).toISOString(),
    createdAt,
  };
}
