/**
 * The advisor console (`/console/`): conversations across platforms, one
 * thread at a time, live over the `/advisor` Socket.IO namespace; replies,
 * secure links, lock / unlock / close through the REST API.
 *
 * The advisor token arrives in the URL fragment (`#token=...`, never sent to
 * the server), is moved to sessionStorage (this tab only, gone when it
 * closes) and removed from the address bar so it is not bookmarked, shared
 * or left in the history. Every text shown comes from `textContent`.
 *
 * Sync rule: the socket says *that* something changed; the REST API says
 * *what* is there. On every (re)connect the console re-reads the list, the
 * open thread after its last message and the audit trail after its last
 * entry, so nothing missed while offline stays missing.
 */
import { io, type Socket } from 'socket.io-client';
import type { AdvisorClientToServerEvents, AdvisorServerToClientEvents, Conversation, ConversationEventPayload, Message } from '../../src/chat/events';
import { AdvisorApi, ApiError, type ConversationAction, type IdentityView } from './api';
import { AuditView } from './audit-view';
import { ConversationList } from './conversation-list';
import { appendAll, byId, clear, el, shortTime, uuid } from './dom';
import { ALERT_LABELS, AUTHOR_LABELS, INTENT_CHOICES, channelLabel, intentLabel, secureLabel } from './labels';
import { ThreadView } from './thread';

type AdvisorSocket = Socket<AdvisorServerToClientEvents, AdvisorClientToServerEvents>;
type ConnectionState = 'connecting' | 'live' | 'reconnecting' | 'offline' | 'signed-out';

const TOKEN_KEY = 'pivot-gateway.advisor-token';
const UNREAD_KEY = 'pivot-gateway.advisor-unread';
const TOKEN_SHAPE = /^[A-Za-z0-9._~+/-]+=*$/;
const MAX_TOKEN_LENGTH = 8192;
/** Stop paging a thread after this many pages (200 messages each): a runaway guard, not a product limit. */
const MAX_PAGES = 100;
/** Events after which the audit trail has something new. */
const AUDITED_EVENTS = new Set(['pivot_sent', 'pivot_redeemed', 'pivot_refused', 'stepped_up', 'locked', 'unlocked', 'closed', 'alert']);
const BASE_TITLE = document.title;

/** The path the gateway is served under (PUBLIC_URL may carry a prefix): `/prefix/console/` → `/prefix/`. */
function basePath(): string {
  const path = location.pathname;
  const at = path.lastIndexOf('/console');
  return at >= 0 ? path.slice(0, at + 1) : '/';
}

const ui = {
  connection: byId('connection', HTMLElement),
  connectionText: byId('connection-text', HTMLElement),
  advisorName: byId('advisor-name', HTMLElement),
  signOut: byId('sign-out', HTMLButtonElement),
  signin: byId('signin', HTMLElement),
  signinReason: byId('signin-reason', HTMLElement),
  signinForm: byId('signin-form', HTMLFormElement),
  signinToken: byId('signin-token', HTMLInputElement),
  workspace: byId('workspace', HTMLElement),
  filter: byId('status-filter', HTMLSelectElement),
  listError: byId('list-error', HTMLElement),
  list: byId('conversations', HTMLUListElement),
  listEmpty: byId('conversations-empty', HTMLElement),
  more: byId('more-conversations', HTMLButtonElement),
  threadTitle: byId('thread-title', HTMLElement),
  threadState: byId('thread-state', HTMLElement),
  threadIdentity: byId('thread-identity', HTMLElement),
  actions: byId('thread-actions', HTMLElement),
  lock: byId('lock', HTMLButtonElement),
  unlock: byId('unlock', HTMLButtonElement),
  close: byId('close', HTMLButtonElement),
  closeConfirm: byId('close-confirm', HTMLElement),
  closeYes: byId('close-yes', HTMLButtonElement),
  closeNo: byId('close-no', HTMLButtonElement),
  actionError: byId('action-error', HTMLElement),
  threadEmpty: byId('thread-empty', HTMLElement),
  scroller: byId('messages-scroller', HTMLElement),
  loading: byId('thread-loading', HTMLElement),
  messages: byId('messages', HTMLOListElement),
  live: byId('live', HTMLElement),
  composer: byId('composer', HTMLElement),
  replyForm: byId('reply-form', HTMLFormElement),
  replyRoute: byId('reply-route', HTMLElement),
  replyText: byId('reply-text', HTMLTextAreaElement),
  replyError: byId('reply-error', HTMLElement),
  pivotForm: byId('pivot-form', HTMLFormElement),
  pivotIntent: byId('pivot-intent', HTMLSelectElement),
  pivotResult: byId('pivot-result', HTMLElement),
  pivotError: byId('pivot-error', HTMLElement),
  auditList: byId('audit', HTMLOListElement),
  auditEmpty: byId('audit-empty', HTMLElement),
};

/** Reads `#token=` once, then forgets the fragment; falls back to this tab's sessionStorage. */
function takeToken(): string | undefined {
  const fromLink = new URLSearchParams(location.hash.slice(1)).get('token');
  if (location.hash) history.replaceState(history.state, '', `${location.pathname}${location.search}`);
  if (fromLink && fromLink.length <= MAX_TOKEN_LENGTH && TOKEN_SHAPE.test(fromLink)) {
    sessionStorage.setItem(TOKEN_KEY, fromLink);
    return fromLink;
  }
  return sessionStorage.getItem(TOKEN_KEY) ?? undefined;
}

/** The name to greet the advisor with, read from the token's payload (display only: the server verifies the token). */
function advisorNameOf(token: string): string {
  try {
    const part = (token.split('.')[1] ?? '').replace(/-/g, '+').replace(/_/g, '/');
    const bytes = Uint8Array.from(atob(part), (c) => c.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
    if (typeof claims.name === 'string') return claims.name;
    return typeof claims.sub === 'string' ? claims.sub : '';
  } catch {
    return '';
  }
}

function setConnection(state: ConnectionState, text: string): void {
  ui.connection.dataset.state = state;
  ui.connectionText.textContent = text;
}

function showError(node: HTMLElement, ...content: Array<Node | string>): void {
  clear(node);
  node.append(...content);
  node.hidden = false;
}

function hideError(node: HTMLElement): void {
  clear(node);
  node.hidden = true;
}

function problemText(err: unknown): string {
  if (err instanceof ApiError) return err.detail ? `${err.title} (${err.detail})` : err.title;
  return 'Something went wrong.';
}

function byActivity(a: Conversation, b: Conversation): number {
  return b.lastMessageAt.localeCompare(a.lastMessageAt) || a.id.localeCompare(b.id);
}

const later = (a: string, b: string): string => (a.localeCompare(b) >= 0 ? a : b);

class AdvisorConsole {
  private readonly api: AdvisorApi;
  private readonly socket: AdvisorSocket;
  private readonly conversations = new Map<string, Conversation>();
  private readonly unread: Map<string, number>;
  private readonly alerts = new Map<string, string>();
  private readonly list: ConversationList;
  private readonly thread: ThreadView;
  private readonly audit: AuditView;
  private selected: string | undefined;
  /** Bumped on every selection: answers for an older selection are dropped. */
  private generation = 0;
  private cursor: string | null = null;
  private stopped = false;
  /** The last reply attempt, so a retry of the same text reuses its Idempotency-Key. */
  private pendingReply: { conversationId: string; text: string; key: string } | undefined;
  private pendingPivot: { conversationId: string; intent: string; key: string } | undefined;
  private readonly busy = new Set<string>();
  /** Removes this console's listeners and timers when it signs out (a new sign-in builds a new one). */
  private readonly lifetime = new AbortController();

  constructor(
    private readonly token: string,
    private readonly onSignedOut: (reason: string) => void,
  ) {
    this.api = new AdvisorApi(token, () => this.signOut('Your advisor token is no longer valid (expired or revoked). Open a new console link, or paste a token.'), `${basePath()}api`);
    this.unread = this.loadUnread();
    this.list = new ConversationList(ui.list, ui.listEmpty, (id) => void this.select(id), this.lifetime.signal);
    this.thread = new ThreadView(ui.messages, ui.scroller);
    this.audit = new AuditView(ui.auditList, ui.auditEmpty);
    this.socket = io(`${location.origin}/advisor`, { path: `${basePath()}socket.io/`, auth: { token }, reconnectionDelayMax: 10_000 });
    this.bindSocket();
    this.bindForms();
  }

  start(): void {
    ui.advisorName.textContent = advisorNameOf(this.token) ? `Signed in as ${advisorNameOf(this.token)}` : '';
    ui.signOut.hidden = false;
    ui.workspace.hidden = false;
    ui.signin.hidden = true;
    this.resetThreadPane();
    setConnection('connecting', 'Connecting…');
    void this.loadList(true);
  }

  signOut(reason: string): void {
    if (this.stopped) return;
    this.stopped = true;
    this.socket.disconnect();
    this.lifetime.abort();
    sessionStorage.removeItem(TOKEN_KEY);
    setConnection('signed-out', 'Signed out');
    this.onSignedOut(reason);
  }

  /** A fresh console (also after signing in again) shows no conversation. */
  private resetThreadPane(): void {
    this.thread.reset();
    this.audit.reset();
    ui.threadTitle.textContent = 'No conversation open';
    clear(ui.threadState);
    clear(ui.threadIdentity);
    for (const node of [ui.replyError, ui.actionError, ui.pivotError, ui.listError]) hideError(node);
    ui.pivotResult.textContent = '';
    ui.actions.hidden = true;
    ui.composer.hidden = true;
    ui.scroller.hidden = true;
    ui.threadEmpty.hidden = false;
  }

  // --- live -----------------------------------------------------------------

  private bindSocket(): void {
    const s = this.socket;
    s.on('connect', () => {
      setConnection('live', 'Live');
      void this.resync();
    });
    s.on('disconnect', (reason) => {
      if (this.stopped) return;
      setConnection('reconnecting', 'Connection lost — reconnecting…');
      // The server closed this socket itself (e.g. the token expired): ask the API whether the token still works.
      if (reason === 'io server disconnect') {
        this.api.listConversations({ limit: 1 }).then(
          () => s.connect(),
          (err: unknown) => {
            if (err instanceof ApiError && err.status === 401) return; // signed out by the API client
            this.retryConnect();
          },
        );
      }
    });
    s.on('connect_error', (err) => {
      if (this.stopped) return;
      if (err.message === 'unauthenticated') {
        this.signOut('Your advisor token was refused (expired or invalid). Open a new console link, or paste a token.');
        return;
      }
      setConnection('offline', err.message === 'idp_unavailable' ? 'Identity provider unavailable — retrying…' : 'Offline — retrying…');
      // A refusal by the server's middleware is not retried by socket.io itself.
      if (!s.active) this.retryConnect();
    });
    s.on('conversation', (payload) => this.onConversation(payload));
    s.on('message', (message) => this.onMessage(message));
  }

  private retryConnect(): void {
    const timer = setTimeout(() => {
      if (!this.stopped && !this.socket.connected) this.socket.connect();
    }, 5_000);
    this.lifetime.signal.addEventListener('abort', () => clearTimeout(timer), { once: true });
  }

  /** After a (re)connect: rooms are per socket, so watch again, then read what was missed. */
  private async resync(): Promise<void> {
    const id = this.selected;
    const generation = this.generation;
    await this.loadList(true);
    if (id && generation === this.generation) {
      await this.watch(id);
      await this.refreshConversation(id, generation);
      await this.catchUp(id, generation);
    }
  }

  private onConversation({ conversation, event, reason }: ConversationEventPayload): void {
    const before = this.conversations.get(conversation.id);
    // A `message` event carries the conversation as its sender read it, maybe before a lock or
    // a redemption landed: take only its activity time. Other events carry the new state.
    const next: Conversation =
      before && (event === 'message' || event === 'created')
        ? { ...before, lastMessageAt: later(before.lastMessageAt, conversation.lastMessageAt) }
        : { ...conversation, lastMessageAt: before ? later(before.lastMessageAt, conversation.lastMessageAt) : conversation.lastMessageAt };
    this.conversations.set(conversation.id, next);

    const isOpen = conversation.id === this.selected;
    if (event === 'message' && !isOpen) this.unread.set(conversation.id, (this.unread.get(conversation.id) ?? 0) + 1);
    if (event === 'alert') {
      this.alerts.set(conversation.id, reason ?? 'alert');
      this.announce(`Alert on ${conversation.externalUserId}: ${ALERT_LABELS[reason ?? ''] ?? reason ?? 'see the audit trail'}.`);
    }
    if (isOpen) {
      if (before && before.secure !== next.secure) this.announce(`${secureLabel(next.secure).long}.`);
      this.showHeader(next);
      if (AUDITED_EVENTS.has(event)) void this.loadAudit(conversation.id, this.generation);
      // The identity a step-up proved (or why it could not) is read from the API, not carried by the event.
      if (event === 'stepped_up' || event === 'alert' || event === 'pivot_redeemed') void this.refreshConversation(conversation.id, this.generation);
    }
    this.renderList();
  }

  private onMessage(message: Message): void {
    if (message.conversationId !== this.selected) return;
    for (const m of this.thread.add([message])) this.announceMessage(m);
  }

  private async watch(id: string): Promise<void> {
    if (!this.socket.connected) return; // `connect` watches the open conversation
    try {
      const ack = await this.socket.timeout(5_000).emitWithAck('watch', { conversationId: id });
      if (!ack.ok && id === this.selected) showError(ui.actionError, `Live updates for this conversation are off (${ack.error}); reopen it to retry.`);
    } catch {
      // no answer in time: the next reconnect watches again
    }
  }

  private unwatch(id: string): void {
    if (this.socket.connected) this.socket.timeout(5_000).emit('unwatch', { conversationId: id }, () => undefined);
  }

  private announce(text: string): void {
    ui.live.append(el('p', {}, text));
    while (ui.live.childElementCount > 5) ui.live.firstElementChild?.remove();
  }

  private announceMessage(m: Message): void {
    const leg = m.channel === 'secure' ? 'secure channel' : channelLabel(m.channel);
    const text = m.text.length > 200 ? `${m.text.slice(0, 200)}…` : m.text;
    this.announce(`${AUTHOR_LABELS[m.author] ?? m.author}, ${leg}: ${text}`);
  }

  // --- list -----------------------------------------------------------------

  private get filter(): 'open' | 'closed' | undefined {
    return ui.filter.value === 'open' || ui.filter.value === 'closed' ? ui.filter.value : undefined;
  }

  private async loadList(reset: boolean): Promise<void> {
    try {
      if (reset) this.cursor = null;
      const page = await this.api.listConversations({ status: this.filter, cursor: reset ? undefined : (this.cursor ?? undefined), limit: 50 });
      if (reset) {
        for (const id of [...this.conversations.keys()]) if (!page.items.some((c) => c.id === id) && id !== this.selected) this.conversations.delete(id);
      }
      for (const c of page.items) {
        const known = this.conversations.get(c.id);
        // A live event newer than this page wins.
        if (!known || known.lastMessageAt.localeCompare(c.lastMessageAt) <= 0) this.conversations.set(c.id, c);
      }
      this.cursor = page.next;
      ui.more.hidden = page.next === null;
      hideError(ui.listError);
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 401)) showError(ui.listError, `Could not load conversations: ${problemText(err)}`);
    }
    this.renderList();
  }

  private renderList(): void {
    const filter = this.filter;
    const shown = [...this.conversations.values()].filter((c) => !filter || c.status === filter || c.id === this.selected).sort(byActivity);
    this.list.render(shown, { selected: this.selected, unread: this.unread, alerts: this.alerts });
    let total = 0;
    for (const n of this.unread.values()) total += n;
    document.title = total > 0 ? `(${total}) ${BASE_TITLE}` : BASE_TITLE;
    this.saveUnread();
  }

  private loadUnread(): Map<string, number> {
    try {
      const saved = JSON.parse(sessionStorage.getItem(UNREAD_KEY) ?? '{}') as Record<string, unknown>;
      return new Map(Object.entries(saved).filter((e): e is [string, number] => typeof e[1] === 'number' && e[1] > 0));
    } catch {
      return new Map();
    }
  }

  private saveUnread(): void {
    sessionStorage.setItem(UNREAD_KEY, JSON.stringify(Object.fromEntries(this.unread)));
  }

  // --- thread ---------------------------------------------------------------

  async select(id: string): Promise<void> {
    if (this.stopped || this.selected === id) return;
    const previous = this.selected;
    this.selected = id;
    const generation = ++this.generation;
    if (previous) this.unwatch(previous);
    this.unread.delete(id);
    this.alerts.delete(id);
    this.renderList();

    this.thread.reset();
    this.audit.reset();
    clear(ui.threadIdentity);
    this.pendingReply = undefined;
    this.pendingPivot = undefined;
    ui.replyText.value = '';
    for (const node of [ui.replyError, ui.actionError, ui.pivotError]) hideError(node);
    ui.pivotResult.textContent = '';
    this.hideCloseConfirm(false);
    ui.threadEmpty.hidden = true;
    ui.scroller.hidden = false;
    ui.composer.hidden = false;
    ui.actions.hidden = false;
    ui.loading.hidden = false;
    const known = this.conversations.get(id);
    if (known) this.showHeader(known);

    await this.watch(id);
    await this.refreshConversation(id, generation);
    await this.catchUp(id, generation);
    if (generation === this.generation) {
      ui.loading.hidden = true;
      ui.scroller.scrollTop = ui.scroller.scrollHeight;
    }
  }

  private async refreshConversation(id: string, generation: number): Promise<void> {
    try {
      const c = await this.api.getConversation(id);
      if (generation !== this.generation) return;
      this.showIdentity(c.identity);
      const known = this.conversations.get(id);
      this.conversations.set(id, known ? { ...c, lastMessageAt: later(known.lastMessageAt, c.lastMessageAt) } : c);
      this.showHeader(this.conversations.get(id) ?? c);
      this.renderList();
    } catch (err) {
      if (generation === this.generation) showError(ui.actionError, `Could not load this conversation: ${problemText(err)}`);
    }
  }

  /** Reads the thread and the audit trail after what is already shown. */
  private async catchUp(id: string, generation: number): Promise<void> {
    await Promise.all([this.loadMessages(id, generation), this.loadAudit(id, generation)]);
  }

  private async loadMessages(id: string, generation: number): Promise<void> {
    try {
      let after = this.thread.lastId;
      for (let pages = 0; pages < MAX_PAGES; pages++) {
        const page = await this.api.messages(id, after);
        if (generation !== this.generation) return;
        this.thread.add(page.items);
        if (page.next === null) return;
        after = page.next;
      }
    } catch (err) {
      if (generation === this.generation) showError(ui.actionError, `Could not load the thread: ${problemText(err)}`);
    }
  }

  private async loadAudit(id: string, generation: number): Promise<void> {
    try {
      let cursor = this.audit.lastId;
      for (let pages = 0; pages < MAX_PAGES; pages++) {
        const page = await this.api.audit(id, cursor);
        if (generation !== this.generation) return;
        this.audit.add(page.items);
        if (page.next === null) return;
        cursor = page.next;
      }
    } catch (err) {
      if (generation === this.generation) showError(ui.actionError, `Could not load the audit trail: ${problemText(err)}`);
    }
  }

  /** Who the bank says the customer is: verified identity, link, Messenger binding, or why step-up cannot happen. */
  private showIdentity(identity: IdentityView | undefined): void {
    clear(ui.threadIdentity);
    if (!identity) return;
    const lines: HTMLElement[] = [];
    const v = identity.verified;
    if (v) {
      const how = v.mfa ? `multi-factor${v.amr?.length ? ` (${v.amr.join(', ')})` : ''}` : `without a second factor${v.amr?.length ? ` (${v.amr.join(', ')})` : ''}`;
      const when = v.authTime ? `, signed in ${shortTime(v.authTime)}` : '';
      lines.push(
        el('p', { class: v.fresh ? 'verified' : 'warning', id: 'identity-verified', 'data-subject': v.subject, 'data-tier': String(v.tier) }, `${v.fresh ? 'Verified' : 'Sign-in too old'}: bank customer ${v.subject} · ${how} · tier ${v.tier}${when}`),
      );
    }
    const link = identity.linkedCustomer;
    if (link && (!v || v.subject !== link.subject)) lines.push(el('p', { id: 'identity-linked', 'data-subject': link.subject }, `Linked to customer ${link.subject} (since ${shortTime(link.linkedAt)})`));
    else if (link) lines.push(el('p', { id: 'identity-linked', 'data-subject': link.subject }, `Linked to customer ${link.subject}`));
    if (identity.binding) lines.push(el('p', { id: 'identity-binding' }, `Messenger binding verified: the conversation's own Messenger user opened the link (${shortTime(identity.binding.verifiedAt)})`));
    if (!identity.stepUp.available) lines.push(el('p', { class: 'warning', id: 'identity-unavailable' }, `Identity step-up cannot complete: ${identity.stepUp.reason}`));
    ui.threadIdentity.append(...lines);
  }

  private showHeader(c: Conversation): void {
    const secure = secureLabel(c.secure);
    clear(ui.threadTitle);
    ui.threadTitle.append(el('span', { class: `badge channel channel-${c.channel}` }, channelLabel(c.channel)), ' ', c.externalUserId);
    clear(ui.threadState);
    ui.threadState.dataset.secure = c.secure;
    ui.threadState.dataset.status = c.status;
    appendAll(
      ui.threadState,
      el('span', { class: `badge secure secure-${c.secure}`, id: 'secure-state', 'data-secure': c.secure }, secure.long),
      c.status === 'closed' ? el('span', { class: 'badge closed' }, 'Closed') : null,
      el('span', { class: 'since' }, ` · started ${shortTime(c.createdAt)}`),
    );
    const closed = c.status === 'closed';
    ui.lock.disabled = closed || c.secure === 'locked';
    ui.unlock.disabled = c.secure !== 'locked';
    ui.close.disabled = closed;
    ui.replyText.disabled = closed;
    ui.pivotIntent.disabled = closed || c.secure === 'locked';
    for (const b of ui.composer.querySelectorAll('button')) b.disabled = closed || (b.form === ui.pivotForm && c.secure === 'locked');
    ui.replyRoute.textContent = closed
      ? 'This conversation is closed.'
      : c.secure === 'active'
        ? 'Goes over the secure channel.'
        : c.secure === 'locked'
          ? `The secure channel is locked: replies go over ${channelLabel(c.channel)} (public). Never include card or account numbers.`
          : `Goes over ${channelLabel(c.channel)} (public). Never include card or account numbers: send a secure link instead.`;
    ui.replyRoute.dataset.route = c.secure === 'active' && !closed ? 'secure' : 'public';
  }

  // --- forms ----------------------------------------------------------------

  private bindForms(): void {
    const { signal } = this.lifetime;
    const on = <K extends keyof HTMLElementEventMap>(target: HTMLElement, type: K, listener: (event: HTMLElementEventMap[K]) => void) => {
      target.addEventListener(type, listener, { signal });
    };
    on(ui.replyForm, 'submit', (event) => {
      event.preventDefault();
      void this.sendReply();
    });
    on(ui.replyText, 'keydown', (event) => {
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        void this.sendReply();
      }
    });
    on(ui.pivotForm, 'submit', (event) => {
      event.preventDefault();
      void this.sendPivot();
    });
    on(ui.lock, 'click', () => void this.act('lock'));
    on(ui.unlock, 'click', () => void this.act('unlock'));
    on(ui.close, 'click', () => {
      ui.closeConfirm.hidden = false;
      ui.closeYes.focus();
    });
    on(ui.closeNo, 'click', () => this.hideCloseConfirm(true));
    on(ui.closeConfirm, 'keydown', (event) => {
      if (event.key === 'Escape') this.hideCloseConfirm(true);
    });
    on(ui.closeYes, 'click', () => {
      this.hideCloseConfirm(false);
      void this.act('close');
    });
    on(ui.filter, 'change', () => void this.loadList(true));
    on(ui.more, 'click', () => void this.loadList(false));
    on(ui.signOut, 'click', () => this.signOut('Signed out.'));
  }

  private hideCloseConfirm(refocus: boolean): void {
    ui.closeConfirm.hidden = true;
    if (refocus) ui.close.focus();
  }

  private async sendReply(): Promise<void> {
    const id = this.selected;
    const text = ui.replyText.value.trim();
    if (!id || this.busy.has('reply')) return;
    if (!text) {
      showError(ui.replyError, 'Type a reply first.');
      return;
    }
    if (!this.pendingReply || this.pendingReply.conversationId !== id || this.pendingReply.text !== text) this.pendingReply = { conversationId: id, text, key: uuid() };
    const { key } = this.pendingReply;
    this.busy.add('reply');
    ui.replyForm.setAttribute('aria-busy', 'true');
    hideError(ui.replyError);
    try {
      const message = await this.api.reply(id, text, key);
      this.pendingReply = undefined;
      if (id === this.selected) {
        this.thread.add([message]);
        if (ui.replyText.value.trim() === text) ui.replyText.value = '';
      }
    } catch (err) {
      if (!(err instanceof ApiError) || !(err.retryable || err.code === 'GW_ERR_IDEMPOTENCY_CONFLICT')) this.pendingReply = undefined;
      if (id === this.selected) this.showReplyProblem(err);
    } finally {
      this.busy.delete('reply');
      ui.replyForm.removeAttribute('aria-busy');
    }
  }

  private showReplyProblem(err: unknown): void {
    ui.replyError.dataset.code = err instanceof ApiError ? err.code : 'UNKNOWN';
    if (err instanceof ApiError && err.code === 'GW_ERR_SENSITIVE_ON_PUBLIC_CHANNEL') {
      const pick = el('button', { type: 'button', class: 'secondary' }, 'Choose a secure link');
      pick.addEventListener('click', () => ui.pivotIntent.focus(), { signal: this.lifetime.signal });
      showError(
        ui.replyError,
        el('strong', {}, 'Not sent. '),
        `${err.title}.`,
        err.detail ? ` ${err.detail}` : '',
        ' The public channel must never carry it. ',
        pick,
      );
      return;
    }
    if (err instanceof ApiError && err.status === 0) {
      showError(ui.replyError, el('strong', {}, 'Not sent. '), 'The gateway could not be reached. Your text is kept: press Send to try again (it will not be sent twice).');
      return;
    }
    showError(ui.replyError, el('strong', {}, 'Not sent. '), problemText(err));
  }

  private async sendPivot(): Promise<void> {
    const id = this.selected;
    const intent = ui.pivotIntent.value;
    if (!id || !intent || this.busy.has('pivot')) return;
    if (!this.pendingPivot || this.pendingPivot.conversationId !== id || this.pendingPivot.intent !== intent) this.pendingPivot = { conversationId: id, intent, key: uuid() };
    const { key } = this.pendingPivot;
    this.busy.add('pivot');
    ui.pivotForm.setAttribute('aria-busy', 'true');
    hideError(ui.pivotError);
    ui.pivotResult.textContent = 'Sending…';
    try {
      // The answer holds the link itself: it opens the customer's session, so it is not shown here.
      const result = await this.api.pivot(id, intent, key);
      this.pendingPivot = undefined;
      if (id === this.selected) {
        ui.pivotResult.textContent = `Secure link for “${intentLabel(intent)}” sent. It works once, until ${shortTime(result.expiresAt)}.`;
        // The advice of a refused reply (send a secure link instead) was followed.
        if (ui.replyError.dataset.code === 'GW_ERR_SENSITIVE_ON_PUBLIC_CHANNEL') hideError(ui.replyError);
      }
    } catch (err) {
      if (!(err instanceof ApiError) || !err.retryable) this.pendingPivot = undefined;
      if (id === this.selected) {
        ui.pivotResult.textContent = '';
        showError(ui.pivotError, el('strong', {}, 'Secure link not sent. '), problemText(err));
      }
    } finally {
      this.busy.delete('pivot');
      ui.pivotForm.removeAttribute('aria-busy');
    }
  }

  private async act(action: ConversationAction): Promise<void> {
    const id = this.selected;
    if (!id || this.busy.has(action)) return;
    this.busy.add(action);
    hideError(ui.actionError);
    try {
      const c = await this.api.act(id, action, uuid());
      const known = this.conversations.get(id);
      this.conversations.set(id, known ? { ...c, lastMessageAt: later(known.lastMessageAt, c.lastMessageAt) } : c);
      if (id === this.selected) {
        this.showHeader(this.conversations.get(id) ?? c);
        this.announce(action === 'close' ? 'Conversation closed.' : `${secureLabel(c.secure).long}.`);
        void this.loadAudit(id, this.generation);
      }
      this.renderList();
    } catch (err) {
      if (id === this.selected) showError(ui.actionError, `Could not ${action}: ${problemText(err)}`);
    } finally {
      this.busy.delete(action);
    }
  }
}

function fillIntents(): void {
  for (const choice of INTENT_CHOICES) ui.pivotIntent.append(el('option', { value: choice.intent }, `${choice.label} (tier ${choice.tier})`));
}

function showSignin(reason: string | undefined): void {
  ui.workspace.hidden = true;
  ui.signOut.hidden = true;
  ui.advisorName.textContent = '';
  ui.signin.hidden = false;
  if (reason) ui.signinReason.textContent = reason;
  setConnection('signed-out', 'Signed out');
  ui.signinToken.value = '';
  ui.signinToken.focus();
}

function boot(): void {
  fillIntents();
  let current: AdvisorConsole | undefined;
  const begin = (token: string) => {
    current = new AdvisorConsole(token, (reason) => {
      current = undefined;
      showSignin(reason);
    });
    current.start();
  };
  ui.signinForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const token = ui.signinToken.value.trim();
    if (!token || token.length > MAX_TOKEN_LENGTH || !TOKEN_SHAPE.test(token)) {
      ui.signinReason.textContent = 'That does not look like an advisor token.';
      ui.signinToken.focus();
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, token);
    ui.signinToken.value = '';
    if (!current) begin(token);
  });
  const token = takeToken();
  if (token) begin(token);
  else showSignin(undefined);
}

boot();
