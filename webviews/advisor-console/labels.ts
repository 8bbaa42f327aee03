/** What advisors read for the contract's machine names (PRODUCT.md). */
import type { Conversation, Message } from '../../src/chat/events';

type Channel = Message['channel'];
type SecureState = Conversation['secure'];

export const CHANNEL_LABELS: Record<Channel, string> = {
  messenger: 'Messenger',
  whatsapp: 'WhatsApp',
  sms: 'SMS',
  botframework: 'Bot Framework',
  sandbox: 'Sandbox',
  secure: 'Secure',
};

export function channelLabel(channel: string): string {
  return (CHANNEL_LABELS as Record<string, string>)[channel] ?? channel;
}

/** Short form for the list, long form for the thread header. */
export const SECURE_LABELS: Record<SecureState, { short: string; long: string }> = {
  none: { short: 'Public', long: 'No secure session' },
  invited: { short: 'Invited', long: 'Secure link sent, not opened yet' },
  active: { short: 'Secure', long: 'Secure session active' },
  locked: { short: 'Locked', long: 'Secure channel locked' },
};

export function secureLabel(state: string): { short: string; long: string } {
  return (SECURE_LABELS as Record<string, { short: string; long: string }>)[state] ?? { short: state, long: state };
}

/** The pivot intents an advisor may choose, with their risk tier (PRODUCT.md, "Risk tiers"). */
export const INTENT_CHOICES: ReadonlyArray<{ intent: string; label: string; tier: number }> = [
  { intent: 'view_account', label: 'View account', tier: 1 },
  { intent: 'update_profile', label: 'Update profile', tier: 2 },
  { intent: 'card_payment', label: 'Card payment', tier: 2 },
  { intent: 'credential_disclosure', label: 'Credential disclosed', tier: 2 },
  { intent: 'lost_device', label: 'Lost device', tier: 2 },
  { intent: 'trade', label: 'Trade investments', tier: 3 },
  { intent: 'transfer_funds', label: 'Transfer funds', tier: 4 },
  { intent: 'withdraw', label: 'Withdraw', tier: 4 },
];

export function intentLabel(intent: string): string {
  return INTENT_CHOICES.find((c) => c.intent === intent)?.label ?? intent;
}

export const AUTHOR_LABELS: Record<string, string> = { customer: 'Customer', advisor: 'Advisor', bot: 'Bot', system: 'System' };

export const AUDIT_LABELS: Record<string, string> = {
  pivot_issued: 'Secure link issued',
  pivot_redeemed: 'Secure link opened',
  pivot_refused: 'Secure link refused',
  pivot_revoked: 'Secure link revoked',
  replay_alarm: 'Replay of a used link',
  locked: 'Secure channel locked',
  unlocked: 'Secure channel unlocked',
  session_opened: 'Secure session opened',
  session_resumed: 'Secure session resumed',
  session_revoked: 'Secure session ended',
  consent: 'Customer consent',
  stepped_up: 'Identity verified (step-up)',
  closed: 'Conversation closed',
  lost_device: 'Lost device reported',
  stepup_refused: 'Identity step-up refused',
  identity_linked: 'Linked to a bank customer',
  binding: 'Messenger binding verified',
  binding_refused: 'Messenger binding refused',
  assertion_issued: 'Identity assertion issued',
};

/** Why a conversation raised an `alert`, for the list and the live region. */
export const ALERT_LABELS: Record<string, string> = {
  lost_device: 'the customer reported a lost device',
  replay_alarm: 'a used secure link was replayed',
  identity_mismatch: 'a sign-in returned a different bank customer than the linked one',
  stepup_unavailable: 'the customer cannot verify their identity here (no identity provider configured)',
};
