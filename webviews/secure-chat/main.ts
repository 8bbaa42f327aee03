/**
 * ⑦ The customer's secure chat (PRODUCT.md, "Secure chat"; served at /secure/).
 *
 * - The pivot token arrives in the fragment (`#t=`), is taken out of the
 *   address bar at once and kept in memory only; it is redeemed only when the
 *   person taps "Open secure chat" (link scanners that run scripts must not
 *   spend it).
 * - After redemption the session token lives in sessionStorage (this tab
 *   only); reconnects and reloads resume with it, never with the pivot token.
 * - A link opened in a tab that already holds the chat (a fragment change
 *   without reload, or a full load over an old session) is taken the same
 *   way: out of the address bar at once, then offered behind the tap.
 * - The thread is kept by message id: history and live events may overlap and
 *   never show a message twice; in-page reconnects ask only for what came
 *   after the last message seen. Text is rendered with textContent only.
 */
import { io, type Socket } from 'socket.io-client';
import type {
  AssertionPayload,
  BindingRequestPayload,
  ConsentAck,
  ConsentRequestPayload,
  HistoryPayload,
  Message,
  MessageAck,
  SecureClientToServerEvents,
  SecureRefusalCode,
  SecureServerToClientEvents,
  SessionPayload,
  StepUpPayload,
  StepUpReason,
} from '../../src/chat/events';

type State = 'idle' | 'connecting' | 'secure' | 'reconnecting' | 'ended';
type SecureSocket = Socket<SecureServerToClientEvents, SecureClientToServerEvents>;

const STORAGE_KEY = 'pg.secure.session';
const ACK_TIMEOUT_MS = 15_000;
const REFUSALS: readonly string[] = ['token_invalid', 'token_expired', 'token_used', 'session_invalid', 'conversation_locked', 'rate_limited', 'server_error'];

const CHANNEL_NAMES: Readonly<Record<string, string>> = { sms: 'SMS', whatsapp: 'WhatsApp', messenger: 'Messenger', botframework: 'web chat', sandbox: 'the sandbox' };
const AUTHOR_NAMES: Readonly<Record<string, string>> = { customer: 'You', advisor: 'Advisor', bot: 'Assistant', system: 'Bank' };
const STATE_TEXT: Readonly<Record<State, string>> = { idle: 'Not connected', connecting: 'Connecting…', secure: 'Secure', reconnecting: 'Reconnecting…', ended: 'Ended' };

const REFUSAL_PAGES: Readonly<Record<SecureRefusalCode, { title: string; text: string; retry?: boolean }>> = {
  token_expired: { title: 'This link has expired', text: 'For your security, a secure link works for a few minutes only. Please ask for a new link in your chat.' },
  token_used: { title: 'This link was already used', text: 'Each secure link opens the chat once. Please ask for a new link in your chat. If you did not open it, reply LOCK in your chat.' },
  token_invalid: { title: 'This link is not valid', text: 'It may be incomplete or not come from your bank. Please ask for a new link in your chat.' },
  session_invalid: { title: 'Your secure chat has ended', text: 'It ended after a while without activity, or from another device. Please ask for a new link in your chat to continue.' },
  conversation_locked: { title: 'Secure chat is locked', text: 'For your safety, this secure chat was locked. An advisor will contact you in your usual chat.' },
  rate_limited: { title: 'Too many attempts', text: 'Please wait a few minutes, then try again.', retry: true },
  server_error: { title: 'Something went wrong on our side', text: 'Your link was not used. Please try again in a moment.', retry: true },
};

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`#${id} missing`);
  return found as T;
}

const ui = {
  status: element<HTMLParagraphElement>('status'),
  start: element<HTMLElement>('view-start'),
  startTitle: element<HTMLHeadingElement>('start-title'),
  open: element<HTMLButtonElement>('open'),
  refusal: element<HTMLElement>('view-refusal'),
  refusalTitle: element<HTMLHeadingElement>('refusal-title'),
  refusalText: element<HTMLParagraphElement>('refusal-text'),
  retry: element<HTMLButtonElement>('retry'),
  chat: element<HTMLElement>('view-chat'),
  older: element<HTMLParagraphElement>('older'),
  thread: element<HTMLOListElement>('thread'),
  stepup: element<HTMLElement>('stepup'),
  stepupLink: element<HTMLAnchorElement>('stepup-link'),
  stepupText: element<HTMLParagraphElement>('stepup-text'),
  verified: element<HTMLParagraphElement>('verified'),
  consent: element<HTMLElement>('consent'),
  consentTitle: element<HTMLHeadingElement>('consent-title'),
  consentIntent: element<HTMLElement>('consent-intent'),
  consentSummary: element<HTMLElement>('consent-summary'),
  consentError: element<HTMLParagraphElement>('consent-error'),
  consentAccept: element<HTMLButtonElement>('consent-accept'),
  composer: element<HTMLFormElement>('composer'),
  text: element<HTMLTextAreaElement>('text'),
  announcer: element<HTMLParagraphElement>('announcer'),
};

// --- credentials ------------------------------------------------------------

interface StoredSession {
  sessionToken: string;
  conversationId: string;
  /** SHA-256 (hex) of the pivot token that opened this session: tells this tab's own link apart from a fresh one. */
  link?: string;
}

/**
 * The pivot token, from `#t=`; the fragment is removed from the address bar before anything else runs.
 * Any fragment is removed, also one without a usable token: the page has no in-page anchors, and an
 * oversized or mangled token must not linger in the address bar or the history either.
 */
function takeTokenFromFragment(): string | undefined {
  const hash = window.location.hash;
  if (!hash) return undefined;
  history.replaceState(history.state, '', window.location.pathname + window.location.search);
  const token = new URLSearchParams(hash.slice(1)).get('t');
  return token && token.length < 4096 ? token : undefined;
}

/** Hex SHA-256 of a pivot token; undefined where WebCrypto is missing (not a secure context). */
async function linkDigest(token: string): Promise<string | undefined> {
  if (!window.isSecureContext || !crypto.subtle) return undefined;
  try {
    const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(token));
    return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
  } catch {
    return undefined;
  }
}

function loadSession(): StoredSession | undefined {
  try {
    const raw = sessionStorage.getItem(STORAGE_KEY);
    const parsed: unknown = raw ? JSON.parse(raw) : undefined;
    if (typeof parsed === 'object' && parsed !== null && typeof (parsed as StoredSession).sessionToken === 'string') return parsed as StoredSession;
  } catch {
    // storage disabled or corrupt: start without
  }
  return undefined;
}

function saveSession(session: StoredSession | undefined): void {
  try {
    if (session) sessionStorage.setItem(STORAGE_KEY, JSON.stringify(session));
    else sessionStorage.removeItem(STORAGE_KEY);
  } catch {
    // storage disabled: the chat still works until the tab is reloaded
  }
}

/** Taken out of the address bar before anything else, also before the stored session is looked at. */
const arrivedToken = takeTokenFromFragment();
/** The link offered behind the tap (memory only); redeemed before any stored session is resumed. */
let pivotToken: string | undefined;
/** linkDigest(pivotToken), saved with the session the token opens. */
let pivotLink: string | undefined;
let stored = loadSession();

// --- thread -------------------------------------------------------------------

const byId = new Map<string, HTMLLIElement>();
let lastMessageId: string | undefined;
/** False between (re)connect and its `history`: live messages wait so lastMessageId never skips a gap. */
let synced = false;
let buffered: Message[] = [];
const divider = document.createElement('li');
divider.className = 'divider';
divider.setAttribute('role', 'separator');
divider.textContent = 'Secure chat starts here';

function compareIds(a: string, b: string): number {
  const [am = 0, as = 0] = a.split('-').map(Number);
  const [bm = 0, bs = 0] = b.split('-').map(Number);
  return am - bm || as - bs;
}

function timeText(iso: string): string {
  const at = new Date(iso);
  const today = new Date().toDateString() === at.toDateString();
  const time = at.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  return today ? time : `${at.toLocaleDateString([], { day: 'numeric', month: 'short' })}, ${time}`;
}

function renderMessage(message: Message): HTMLLIElement {
  const li = document.createElement('li');
  const mine = message.author === 'customer';
  li.className = `msg${mine ? ' mine' : ''}${message.channel === 'secure' ? '' : ' public'}`;
  li.dataset.id = message.id;
  li.dataset.channel = message.channel;
  const meta = document.createElement('div');
  meta.className = 'meta';
  const author = document.createElement('span');
  author.className = 'author';
  author.textContent = message.author === 'advisor' && message.authorName ? message.authorName : (AUTHOR_NAMES[message.author] ?? 'Bank');
  const time = document.createElement('time');
  time.dateTime = message.createdAt;
  time.textContent = timeText(message.createdAt);
  meta.append(author, time);
  if (message.channel !== 'secure') {
    const via = document.createElement('span');
    via.className = 'via';
    via.textContent = `via ${CHANNEL_NAMES[message.channel] ?? message.channel}`;
    meta.append(via);
  }
  const text = document.createElement('p');
  text.className = 'text';
  text.textContent = message.text;
  li.append(meta, text);
  if (message.redacted) {
    const flag = document.createElement('span');
    flag.className = 'flag';
    flag.textContent = 'Sensitive details were hidden.';
    li.append(flag);
  }
  return li;
}

/** Where the secure part begins: before the first secure message. */
function placeDivider(): void {
  const first = ui.thread.querySelector('li.msg[data-channel="secure"]');
  if (!first) {
    divider.remove();
    return;
  }
  if (first.previousElementSibling !== divider) ui.thread.insertBefore(divider, first);
}

/** Where a confirmed message with this id goes (ids are ordered): usually at the end, before any pending sends. */
function insertionPoint(id: string, except?: HTMLLIElement): Element | null {
  let before: Element | null = Array.from(ui.thread.querySelectorAll('li.msg.pending')).find((li) => li !== except) ?? null;
  const confirmed = ui.thread.querySelectorAll<HTMLLIElement>('li.msg[data-id]');
  for (let i = confirmed.length - 1; i >= 0; i--) {
    const existing = confirmed[i];
    if (existing === except) continue;
    if (!existing || compareIds(existing.dataset.id ?? '', id) < 0) break;
    before = existing;
  }
  return before;
}

/**
 * `fromAck`: the page's own message, confirmed by its ack. Its id does not move lastMessageId: with
 * several nodes, an advisor message stored just before it may still be crossing Redis, and a resume
 * after the own message's id would skip it. A resume then also brings the own message again, which
 * the page already shows (by id) and ignores.
 */
function noteMessage(message: Message, li: HTMLLIElement, fromAck = false): void {
  byId.set(message.id, li);
  if (synced && !fromAck && (!lastMessageId || compareIds(message.id, lastMessageId) > 0)) lastMessageId = message.id;
  placeDivider();
}

function addMessage(message: Message): void {
  if (byId.has(message.id)) return;
  const li = renderMessage(message);
  ui.thread.insertBefore(li, insertionPoint(message.id));
  noteMessage(message, li);
}

/** Forgets the thread shown (another conversation's session is starting): its messages and unsent drafts. */
function resetThread(): void {
  for (const li of byId.values()) li.remove();
  byId.clear();
  for (const send of pending.values()) send.li.remove();
  pending.clear();
  divider.remove();
  lastMessageId = undefined;
  buffered = [];
  ui.older.hidden = true;
  ui.verified.hidden = true;
}

function applyHistory(payload: HistoryPayload, askedAfter: string | undefined): void {
  const gap = askedAfter !== undefined && payload.hasMore && payload.messages.length > 0 && !byId.has(payload.messages[0]?.id ?? '');
  if (askedAfter === undefined || gap) {
    for (const li of byId.values()) li.remove();
    byId.clear();
    lastMessageId = undefined;
  }
  ui.older.hidden = !payload.hasMore || (askedAfter !== undefined && !gap);
  synced = true;
  for (const message of payload.messages) addMessage(message);
  const waiting = buffered;
  buffered = [];
  for (const message of waiting) addMessage(message);
  scrollToEnd();
}

function scrollToEnd(): void {
  window.scrollTo({ top: document.body.scrollHeight });
}

// --- sending ------------------------------------------------------------------

interface PendingSend {
  clientMessageId: string;
  text: string;
  li: HTMLLIElement;
  inFlight: boolean;
}

const pending = new Map<string, PendingSend>();

function newClientMessageId(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

function renderPending(text: string): HTMLLIElement {
  const li = renderMessage({ id: '', conversationId: '', author: 'customer', channel: 'secure', text, createdAt: new Date().toISOString() });
  li.classList.add('pending');
  delete li.dataset.id;
  const flag = document.createElement('span');
  flag.className = 'flag';
  flag.textContent = 'Sending…';
  li.append(flag);
  return li;
}

/**
 * Says something once through the hidden status region. The thread (role="log") announces only
 * additions, so a flag that changes on a message already shown would go unheard; the message itself
 * is not repeated here. Emptied first so the same sentence twice in a row is announced twice.
 */
function announce(text: string): void {
  ui.announcer.textContent = '';
  window.setTimeout(() => {
    ui.announcer.textContent = text;
  }, 100);
}

function markFailed(send: PendingSend, reason: string): void {
  const flag = send.li.querySelector('.flag');
  if (send.li.classList.contains('failed') && flag?.textContent === reason) return; // said already
  send.li.classList.add('failed');
  if (flag) flag.textContent = reason;
  const excerpt = send.text.length > 40 ? `${send.text.slice(0, 40)}…` : send.text;
  announce(`Your message “${excerpt}”: ${reason}`);
}

/**
 * The ack's message takes over the pending bubble's element, changed in place: a new element would be
 * an addition to the log (aria-relevant="additions") and read out a second time. It moves only when
 * the thread's order requires it (an advisor message stored before it arrived after it was sent).
 */
function confirmPending(send: PendingSend, message: Message): void {
  pending.delete(send.clientMessageId);
  const li = send.li;
  if (byId.has(message.id)) {
    li.remove(); // already shown: a history after a reconnect brought it
    return;
  }
  li.classList.remove('pending', 'failed');
  li.dataset.id = message.id;
  const time = li.querySelector('time');
  if (time) {
    time.dateTime = message.createdAt;
    time.textContent = timeText(message.createdAt);
  }
  const text = li.querySelector('.text');
  if (text && text.textContent !== message.text) text.textContent = message.text; // masked card numbers
  const flag = li.querySelector('.flag');
  if (message.redacted && flag) flag.textContent = 'Sensitive details were hidden.';
  else flag?.remove();
  const before = insertionPoint(message.id, li);
  let next = li.nextElementSibling;
  if (next === divider) next = next.nextElementSibling;
  if (next !== before) ui.thread.insertBefore(li, before);
  noteMessage(message, li, true);
}

function trySend(send: PendingSend): void {
  if (!pending.has(send.clientMessageId) || !socket.connected || !synced || send.inFlight) return;
  send.inFlight = true;
  socket.timeout(ACK_TIMEOUT_MS).emit('message', { text: send.text, clientMessageId: send.clientMessageId }, (err: Error | null, ack: MessageAck) => {
    send.inFlight = false;
    if (!pending.has(send.clientMessageId)) return;
    if (err) {
      // No answer: resend later with the same clientMessageId (the server keeps one entry).
      window.setTimeout(() => trySend(send), 2000);
      return;
    }
    if (ack.ok) {
      confirmPending(send, ack.message);
      scrollToEnd();
      return;
    }
    if (ack.error === 'rate_limited') {
      markFailed(send, 'Waiting: you are sending quickly…');
      window.setTimeout(() => trySend(send), 5000);
    } else if (ack.error === 'invalid_message') {
      pending.delete(send.clientMessageId);
      markFailed(send, 'Not sent: the message is empty or too long.');
    }
    // session_invalid / conversation_locked: the server disconnects; the refusal page explains.
  });
}

function flushPending(): void {
  for (const send of pending.values()) trySend(send);
}

// --- connection ---------------------------------------------------------------

function setState(state: State): void {
  ui.status.dataset.state = state;
  ui.status.textContent = STATE_TEXT[state];
}

function show(view: 'start' | 'refusal' | 'chat'): void {
  ui.start.hidden = view !== 'start';
  ui.refusal.hidden = view !== 'refusal';
  ui.chat.hidden = view !== 'chat';
  ui.composer.hidden = view !== 'chat';
}

/** The path the page is served under (PUBLIC_URL may carry a prefix): `/prefix/secure/` → `/prefix/`. */
function basePath(): string {
  const path = window.location.pathname;
  const at = path.lastIndexOf('/secure');
  return at >= 0 ? path.slice(0, at + 1) : '/';
}

let askedAfter: string | undefined;
/** What the current handshake presents: the session a redemption opens keeps the link's digest. */
let presented: 'pivot' | 'session' | undefined;
/** The conversation the thread on screen belongs to. */
let shownConversationId: string | undefined;

const socket: SecureSocket = io(`${window.location.origin}/secure`, {
  path: `${basePath()}socket.io/`,
  autoConnect: false,
  reconnectionDelay: 500,
  reconnectionDelayMax: 8000,
  // WebSocket first: its handshake always carries Origin, which the server's origin check relies on,
  // whereas a polling handshake from Safari before 16.4 carries neither Origin nor Sec-Fetch-Site and
  // is refused. Polling stays as the fallback when the WebSocket fails (a proxy that blocks it):
  // without tryAllTransports the client would give up after the first transport.
  transports: ['websocket', 'polling'],
  tryAllTransports: true,
  auth: (cb) => {
    askedAfter = undefined;
    // A pending link first (see offerLink); it is cleared once spent or refused, so reconnects resume.
    if (pivotToken) {
      presented = 'pivot';
      cb({ pivotToken });
    } else if (stored) {
      presented = 'session';
      askedAfter = lastMessageId;
      cb(lastMessageId ? { sessionToken: stored.sessionToken, lastMessageId } : { sessionToken: stored.sessionToken });
    } else {
      presented = undefined;
      cb({});
    }
  },
});

socket.on('session', (payload: SessionPayload) => {
  const link = presented === 'pivot' ? pivotLink : stored?.link;
  pivotToken = undefined; // spent: never sent again
  pivotLink = undefined;
  if (shownConversationId !== undefined && shownConversationId !== payload.conversationId) resetThread();
  shownConversationId = payload.conversationId;
  // What is still missing arrives again after `history` (stepup_required / consent_required).
  ui.stepup.hidden = true;
  ui.consent.hidden = true;
  ui.stepup.dataset.tier = '';
  document.body.dataset.tier = String(payload.tier);
  stored = { sessionToken: payload.sessionToken, conversationId: payload.conversationId, ...(link ? { link } : {}) };
  saveSession(stored);
  setState('secure');
  show('chat');
});

socket.on('history', (payload) => {
  applyHistory(payload, askedAfter);
  flushPending();
  if (document.activeElement === ui.open || document.activeElement === document.body) ui.text.focus();
});

socket.on('message', (message) => {
  if (!synced) buffered.push(message);
  else {
    addMessage(message);
    scrollToEnd();
  }
});

// --- identity step-up, consent, Messenger binding (issue 8) ------------------------

const STEPUP_TEXT: Readonly<Record<StepUpReason, string>> = {
  identity_required: 'To go on, the bank needs to confirm it is you.',
  mfa_required: 'This needs a stronger sign-in: sign in again with your second factor (a code or a security key).',
  reauthentication_required: 'Your last sign-in was a while ago: please sign in again to go on.',
  unavailable: 'Identity verification is not available here, so this step cannot be completed in this chat. An advisor will help you another way.',
  failed: 'The identity check did not complete. Please try again.',
  cancelled: 'The sign-in was cancelled. Try again when you are ready.',
  identity_mismatch: 'That sign-in belongs to a different customer than the one linked to this chat. If this is your device, sign in with your own details; an advisor has been told.',
};
const INTENT_TEXT: Readonly<Record<string, string>> = {
  trade: 'buying or selling investments',
  transfer_funds: 'a transfer of funds',
  withdraw: 'a withdrawal',
  update_profile: 'a change of your details',
  card_payment: 'a card payment',
};
/** The return-key cookie: proves on /secure/return that this browser started the step-up. */
const RETURN_COOKIE = 'pg_stepup';
let stepUpReturnKey: string | undefined;
let pendingConsent: ConsentRequestPayload | undefined;

function setReturnCookie(value: string): void {
  const secure = window.location.protocol === 'https:' ? '; Secure' : '';
  document.cookie = `${RETURN_COOKIE}=${encodeURIComponent(value)}; Path=${basePath()}secure/return; Max-Age=600; SameSite=Lax${secure}`;
}

function allowedStepUpUrl(raw: string | undefined): URL | undefined {
  if (!raw) return undefined;
  try {
    const url = new URL(raw);
    return url.protocol === 'https:' || url.hostname === 'localhost' || url.hostname === '127.0.0.1' ? url : undefined;
  } catch {
    return undefined;
  }
}

socket.on('stepup_required', (payload: StepUpPayload) => {
  const url = allowedStepUpUrl(payload.url);
  ui.stepupText.textContent = (payload.reason && STEPUP_TEXT[payload.reason]) ?? payload.message ?? STEPUP_TEXT.identity_required;
  ui.stepupLink.hidden = !url;
  if (url) ui.stepupLink.href = url.toString();
  stepUpReturnKey = url ? payload.returnKey : undefined;
  ui.stepup.dataset.reason = payload.reason ?? 'identity_required';
  ui.stepup.dataset.tier = String(payload.tier);
  ui.stepup.hidden = false;
});

// The person taps: the cookie is set just before the browser leaves for the bank's sign-in page.
ui.stepupLink.addEventListener('click', () => {
  if (stepUpReturnKey) setReturnCookie(stepUpReturnKey);
});

socket.on('consent_required', (payload: ConsentRequestPayload) => {
  pendingConsent = payload;
  ui.consentIntent.textContent = INTENT_TEXT[payload.intent] ?? payload.intent;
  ui.consentSummary.textContent = payload.summary;
  ui.consentError.hidden = true;
  ui.consentAccept.disabled = false;
  ui.consent.hidden = false;
  ui.consentTitle.focus();
});

ui.consentAccept.addEventListener('click', () => {
  const asked = pendingConsent;
  if (!asked || !socket.connected) return;
  ui.consentAccept.disabled = true;
  socket.timeout(ACK_TIMEOUT_MS).emit('consent', { consentId: asked.consentId, accept: true }, (err: Error | null, ack: ConsentAck) => {
    if (!err && ack.ok) {
      pendingConsent = undefined;
      ui.consent.hidden = true;
      ui.text.focus();
      return;
    }
    ui.consentAccept.disabled = false;
    ui.consentError.textContent = err ? 'No answer from the bank: please try again.' : ack.ok ? '' : ack.error === 'consent_expired' ? 'This request has expired: reload the page to see it again.' : 'Your consent could not be recorded yet.';
    ui.consentError.hidden = false;
  });
});

socket.on('assertion', (_payload: AssertionPayload) => {
  // The bank's systems get the assertion from the gateway; the page only says the identity is confirmed.
  ui.verified.textContent = 'Identity confirmed by your bank';
  ui.verified.hidden = false;
});

/** Messenger's in-app browser (iOS and Android): only there is Meta's SDK loaded. */
function insideMessenger(): boolean {
  return /\bFBAN\/(Messenger|MessengerForiOS)|FB_IAB\/(Orca|MESSENGER)|Orca-Android/i.test(navigator.userAgent);
}

interface MessengerExtensionsSdk {
  getContext(appId: string, success: (context: { signed_request?: string }) => void, error: (err: unknown) => void): void;
}

type MessengerWindow = Window & { MessengerExtensions?: MessengerExtensionsSdk; extAsyncInit?: () => void };

let bindingStarted = false;
socket.on('binding_requested', (payload: BindingRequestPayload) => {
  if (bindingStarted || payload.platform !== 'messenger' || !insideMessenger()) return;
  bindingStarted = true;
  const win = window as MessengerWindow;
  const ask = () => {
    win.MessengerExtensions?.getContext(
      payload.appId,
      (context) => {
        if (typeof context.signed_request === 'string') socket.emit('binding', { platform: 'messenger', signedRequest: context.signed_request }, () => undefined);
      },
      () => undefined, // not in a Messenger thread: no binding, nothing else changes
    );
  };
  if (win.MessengerExtensions) {
    ask();
    return;
  }
  win.extAsyncInit = ask;
  const script = document.createElement('script');
  script.id = 'Messenger';
  script.src = 'https://connect.facebook.net/en_US/messenger.Extensions.js';
  script.async = true;
  document.head.append(script);
});

socket.on('connect', () => {
  synced = false;
  buffered = [];
});

socket.on('connect_error', (err) => {
  synced = false;
  const code = err.message;
  if (!REFUSALS.includes(code)) {
    // Network or transport: Socket.IO retries by itself.
    setState(stored || socket.active ? 'reconnecting' : 'connecting');
    return;
  }
  refuse(code as SecureRefusalCode);
});

socket.on('disconnect', (reason) => {
  synced = false;
  if (reason === 'io client disconnect') return;
  setState('reconnecting');
  // The server ended this connection (a revocation, a lock, a node going away): try to resume once;
  // a refusal then says why.
  if (reason === 'io server disconnect') socket.connect();
});

function refuse(code: SecureRefusalCode): void {
  socket.disconnect();
  const linkRefused = code === 'token_used' || code === 'token_expired' || code === 'token_invalid';
  if (linkRefused) {
    pivotToken = undefined;
    pivotLink = undefined;
  }
  if (code === 'session_invalid' || code === 'conversation_locked') {
    stored = undefined;
    saveSession(undefined);
  }
  if (code === 'session_invalid' && pivotToken) {
    // The old session is over but a fresh link is in hand: that is the way forward, not "ask for a new link".
    offerLink();
    return;
  }
  const page = REFUSAL_PAGES[code];
  // A refused link says so (an already used link may mean someone else opened it: the person must see
  // that); the session this tab still holds, if any, stays one tap away instead of a dead end.
  const back = linkRefused && stored !== undefined;
  setState(page.retry || back ? 'idle' : 'ended');
  ui.refusalTitle.textContent = page.title;
  ui.refusalText.textContent = page.text;
  ui.retry.textContent = back ? 'Back to your secure chat' : 'Try again';
  ui.retry.hidden = !page.retry && !back;
  show('refusal');
  ui.refusalTitle.focus();
}

function connect(): void {
  setState('connecting');
  socket.connect();
}

/**
 * Shows the tap page for the link in pivotToken. A fresh link wins over a session this tab already
 * holds: the person just followed it, so it is what they mean to open (typically the nudge's link after
 * the old session ended, or a link to another conversation), and resuming the old session instead would
 * leave the link unused or, when that session has ended, strand them on "ask for a new link". The old
 * session is disconnected meanwhile (the chat is not on screen, so advisor replies go to the nudge
 * path) and stays in sessionStorage only until the link is redeemed: a reload, or a refusal of the link,
 * can still go back to it. Nothing is redeemed before the tap (link-preview bots run scripts too).
 */
function offerLink(): void {
  socket.disconnect();
  synced = false;
  setState('idle');
  ui.open.disabled = false;
  show('start');
  ui.startTitle.focus();
}

let arrivals = 0;

/** A `#t=` link arrived (page load or a fragment change in this tab); it is already out of the address bar. */
async function linkArrived(token: string): Promise<void> {
  const arrival = ++arrivals;
  const link = await linkDigest(token);
  if (arrival !== arrivals) return; // a newer link arrived meanwhile: that one counts
  if (link !== undefined && stored?.link === link) {
    // This tab's own link opened again: the server would answer token_used, and PRODUCT.md has such a
    // client resume with its session token. Nothing to tap; a live chat just carries on.
    pivotToken = undefined;
    pivotLink = undefined;
    if (!socket.active) {
      show('chat');
      connect();
    }
    return;
  }
  pivotToken = token;
  pivotLink = link;
  offerLink();
}

window.addEventListener('hashchange', () => {
  // A link opened in a tab already on /secure/ changes only the fragment: no reload, so it is taken here.
  const token = takeTokenFromFragment();
  if (token) void linkArrived(token);
});

ui.open.addEventListener('click', () => {
  ui.open.disabled = true;
  connect();
});

ui.retry.addEventListener('click', () => {
  if (stored || pivotToken) connect();
});

ui.composer.addEventListener('submit', (event) => {
  event.preventDefault();
  const text = ui.text.value.trim();
  if (!text) return;
  const send: PendingSend = { clientMessageId: newClientMessageId(), text, li: renderPending(text), inFlight: false };
  pending.set(send.clientMessageId, send);
  ui.thread.append(send.li);
  ui.text.value = '';
  scrollToEnd();
  trySend(send);
});

ui.text.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    ui.composer.requestSubmit();
  }
});

// --- start ----------------------------------------------------------------------

if (arrivedToken) {
  void linkArrived(arrivedToken);
} else if (stored) {
  // This tab already has a session (a reload): resume without any link.
  show('chat');
  connect();
} else {
  ui.refusalTitle.textContent = 'Open your secure link';
  ui.refusalText.textContent = 'Tap "Continue securely" in your chat to open this page.';
  show('refusal');
}
