/**
 * The sandbox phone (`/sandbox/`, development only): a person plays the
 * customer on a stand-in SMS, Messenger or WhatsApp.
 *
 * - Sending: `POST api/messages {from, text, platform, id}` (the sandbox
 *   connector, connectors/sandbox/): the same ingest path as a real webhook.
 *   `id` is generated here once per message, so a retry is deduplicated.
 * - Receiving: the connector's Server-Sent Events (`api/events?user=`), which
 *   replay the phone's inbox from the start and resume by `Last-Event-ID`.
 * - The inbox holds only what the bank sent; what this phone sent is kept in
 *   sessionStorage (this tab) and merged by time, as a phone keeps its own.
 * - An invite is drawn the way its platform draws it (Messenger button
 *   template, WhatsApp CTA URL button, SMS text with a link) and opens the
 *   real secure webview. Every text goes through textContent.
 */
type Platform = 'sms' | 'messenger' | 'whatsapp';

interface InboxItem {
  id: string;
  kind: 'text' | 'invite';
  text: string;
  url?: string;
  at: string;
}

interface SentItem {
  id: string;
  text: string;
  at: string;
  state: 'sending' | 'sent' | 'failed';
  error?: string;
}

interface Settings {
  platform: Platform;
  from: string;
  newTab: boolean;
}

const PLATFORMS: Record<Platform, { name: string; placeholder: string; valid: RegExp; rule: string }> = {
  sms: { name: 'SMS', placeholder: 'Text message', valid: /^\+[1-9]\d{6,14}$/, rule: 'an E.164 phone number, e.g. +15551234567' },
  messenger: { name: 'Messenger', placeholder: 'Aa', valid: /^[A-Za-z0-9_.-]{1,64}$/, rule: 'a page-scoped id: letters, digits, _ . - (e.g. 6543210987654321)' },
  whatsapp: { name: 'WhatsApp', placeholder: 'Message', valid: /^\+[1-9]\d{6,14}$/, rule: 'an E.164 phone number, e.g. +15551234567' },
};
const SETTINGS_KEY = 'pg.sandbox.settings';
const sentKey = (from: string) => `pg.sandbox.sent.${from}`;
const MAX_KEPT_SENT = 500;
const RETRY_STREAM_MS = 3000;

function byId<T extends HTMLElement>(id: string, type: new () => T): T {
  const node = document.getElementById(id);
  if (!(node instanceof type)) throw new Error(`page element #${id} is missing`);
  return node;
}

const ui = {
  setup: byId('setup', HTMLFormElement),
  from: byId('from', HTMLInputElement),
  fromError: byId('from-error', HTMLElement),
  newSender: byId('new-sender', HTMLButtonElement),
  newTab: byId('new-tab', HTMLInputElement),
  contactSub: byId('contact-sub', HTMLElement),
  linkState: byId('link-state', HTMLElement),
  inbox: byId('inbox', HTMLOListElement),
  compose: byId('compose', HTMLFormElement),
  text: byId('text', HTMLInputElement),
};

function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string | undefined> = {}, ...children: Array<Node | string | null>): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) if (value !== undefined) node.setAttribute(name, value);
  for (const child of children) if (child !== null) node.append(child);
  return node;
}

function uuid(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
}

function randomDigits(n: number): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(n)), (b) => String(b % 10)).join('');
}

function newSenderFor(platform: Platform): string {
  return platform === 'messenger' ? `${1 + (Number(randomDigits(1)) % 9)}${randomDigits(15)}` : `+1555${randomDigits(7)}`;
}

function timeText(iso: string): string {
  const at = new Date(iso);
  return Number.isNaN(at.getTime()) ? '' : at.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

function isPlatform(value: unknown): value is Platform {
  return value === 'sms' || value === 'messenger' || value === 'whatsapp';
}

function loadSettings(): Settings {
  try {
    const saved = JSON.parse(sessionStorage.getItem(SETTINGS_KEY) ?? 'null') as Partial<Settings> | null;
    if (saved && isPlatform(saved.platform) && typeof saved.from === 'string' && PLATFORMS[saved.platform].valid.test(saved.from)) {
      return { platform: saved.platform, from: saved.from, newTab: saved.newTab !== false };
    }
  } catch {
    // corrupt or disabled storage: start fresh
  }
  return { platform: 'sms', from: newSenderFor('sms'), newTab: true };
}

function saveSettings(s: Settings): void {
  try {
    sessionStorage.setItem(SETTINGS_KEY, JSON.stringify(s));
  } catch {
    // storage disabled: the page still works until reload
  }
}

function loadSent(from: string): SentItem[] {
  try {
    const saved = JSON.parse(sessionStorage.getItem(sentKey(from)) ?? '[]') as unknown;
    if (!Array.isArray(saved)) return [];
    return saved.filter((s): s is SentItem => typeof s === 'object' && s !== null && typeof (s as SentItem).id === 'string' && typeof (s as SentItem).text === 'string' && typeof (s as SentItem).at === 'string');
  } catch {
    return [];
  }
}

function saveSent(from: string, items: SentItem[]): void {
  try {
    sessionStorage.setItem(sentKey(from), JSON.stringify(items.slice(-MAX_KEPT_SENT)));
  } catch {
    // storage full or disabled: the messages are shown, just not kept across reloads
  }
}

/** Only http(s) links become buttons; anything else is shown as inert text. */
function safeLink(raw: string | undefined): URL | undefined {
  if (!raw) return undefined;
  try {
    const url = new URL(raw, location.href);
    return url.protocol === 'https:' || url.protocol === 'http:' ? url : undefined;
  } catch {
    return undefined;
  }
}

async function problemText(response: Response): Promise<string> {
  try {
    const body = (await response.json()) as { title?: unknown; detail?: unknown };
    const title = typeof body.title === 'string' ? body.title : `HTTP ${response.status}`;
    return typeof body.detail === 'string' ? `${title}: ${body.detail}` : title;
  } catch {
    return `HTTP ${response.status}`;
  }
}

class Phone {
  private settings = loadSettings();
  private sent: SentItem[] = [];
  private readonly received = new Map<string, InboxItem>();
  private lastInboxId: string | undefined;
  private stream: EventSource | undefined;
  private retryTimer: number | undefined;
  /** Timeline rows by key (`in:<id>`, `out:<id>`), in display order. */
  private rows: Array<{ key: string; at: string; node: HTMLLIElement }> = [];

  start(): void {
    ui.newTab.checked = this.settings.newTab;
    this.bind();
    this.applyPlatform();
    this.switchSender(this.settings.from);
  }

  private bind(): void {
    for (const radio of ui.setup.querySelectorAll<HTMLInputElement>('input[name="platform"]')) {
      radio.addEventListener('change', () => {
        if (!radio.checked || !isPlatform(radio.value)) return;
        this.settings.platform = radio.value;
        // Another platform, another kind of id: a phone number is not a Messenger id and vice versa.
        if (!PLATFORMS[radio.value].valid.test(this.settings.from)) this.switchSender(newSenderFor(radio.value));
        this.applyPlatform();
        saveSettings(this.settings);
      });
    }
    ui.setup.addEventListener('submit', (event) => {
      event.preventDefault();
      const from = ui.from.value.trim();
      const rule = PLATFORMS[this.settings.platform];
      if (!rule.valid.test(from)) {
        ui.fromError.textContent = `For ${rule.name} the sender id must be ${rule.rule}.`;
        ui.fromError.hidden = false;
        ui.from.setAttribute('aria-invalid', 'true');
        ui.from.focus();
        return;
      }
      this.switchSender(from);
      ui.text.focus();
    });
    ui.newSender.addEventListener('click', () => this.switchSender(newSenderFor(this.settings.platform)));
    ui.newTab.addEventListener('change', () => {
      this.settings.newTab = ui.newTab.checked;
      saveSettings(this.settings);
      for (const a of ui.inbox.querySelectorAll<HTMLAnchorElement>('a.invite-button')) this.setTarget(a);
    });
    ui.compose.addEventListener('submit', (event) => {
      event.preventDefault();
      const text = ui.text.value.trim();
      if (!text) return;
      ui.text.value = '';
      void this.send(text);
    });
  }

  private applyPlatform(): void {
    const p = this.settings.platform;
    document.body.dataset.platform = p;
    const radio = document.getElementById(`platform-${p}`);
    if (radio instanceof HTMLInputElement) radio.checked = true;
    ui.text.placeholder = PLATFORMS[p].placeholder;
    ui.from.inputMode = p === 'messenger' ? 'numeric' : 'tel';
    this.updateContact();
    this.renderAll();
  }

  private updateContact(): void {
    ui.contactSub.textContent = `${PLATFORMS[this.settings.platform].name} · you are ${this.settings.from}`;
  }

  private switchSender(from: string): void {
    this.settings.from = from;
    saveSettings(this.settings);
    ui.from.value = from;
    ui.fromError.hidden = true;
    ui.from.removeAttribute('aria-invalid');
    this.updateContact();
    this.sent = loadSent(from);
    this.received.clear();
    this.lastInboxId = undefined;
    this.renderAll();
    this.openStream();
    // Messages that were still on their way when the page was left: send them again (the id dedupes).
    for (const item of this.sent) if (item.state === 'sending') void this.post(item);
  }

  // --- receiving --------------------------------------------------------------

  private setLink(state: 'connecting' | 'live' | 'offline', text: string): void {
    ui.linkState.dataset.state = state;
    ui.linkState.textContent = text;
  }

  private openStream(): void {
    this.stream?.close();
    window.clearTimeout(this.retryTimer);
    const from = this.settings.from;
    const params = new URLSearchParams({ user: from });
    if (this.lastInboxId) params.set('after', this.lastInboxId);
    this.setLink('connecting', 'Connecting…');
    const stream = new EventSource(`api/events?${params.toString()}`);
    this.stream = stream;
    stream.addEventListener('open', () => this.setLink('live', 'Connected'));
    stream.addEventListener('message', (event: MessageEvent<string>) => {
      if (this.stream !== stream) return;
      try {
        const item = JSON.parse(event.data) as InboxItem;
        if (typeof item.id === 'string' && typeof item.text === 'string') this.addReceived(item);
      } catch {
        // not an inbox item: ignore
      }
    });
    stream.addEventListener('error', () => {
      if (this.stream !== stream) return;
      if (stream.readyState === EventSource.CLOSED) {
        // Refused (e.g. a 4xx): EventSource gives up, so try again a little later from the last item.
        this.setLink('offline', 'Offline — retrying…');
        this.retryTimer = window.setTimeout(() => this.openStream(), RETRY_STREAM_MS);
      } else {
        this.setLink('connecting', 'Reconnecting…');
      }
    });
  }

  private addReceived(item: InboxItem): void {
    if (this.received.has(item.id)) return;
    this.received.set(item.id, item);
    this.lastInboxId = item.id;
    this.place(`in:${item.id}`, item.at, this.renderReceived(item));
  }

  // --- sending ----------------------------------------------------------------

  private async send(text: string): Promise<void> {
    const item: SentItem = { id: uuid(), text, at: new Date().toISOString(), state: 'sending' };
    this.sent.push(item);
    saveSent(this.settings.from, this.sent);
    this.place(`out:${item.id}`, item.at, this.renderSent(item));
    await this.post(item);
  }

  private async post(item: SentItem): Promise<void> {
    const from = this.settings.from;
    const { platform } = this.settings;
    try {
      const response = await fetch('api/messages', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify({ from, text: item.text, platform, id: item.id }),
        credentials: 'same-origin',
        cache: 'no-store',
      });
      item.state = response.ok ? 'sent' : 'failed';
      item.error = response.ok ? undefined : await problemText(response);
    } catch {
      item.state = 'failed';
      item.error = 'The gateway could not be reached.';
    }
    if (from !== this.settings.from) return;
    saveSent(from, this.sent);
    this.place(`out:${item.id}`, item.at, this.renderSent(item));
  }

  // --- timeline ---------------------------------------------------------------

  /** Inserts or replaces one row, keeping rows ordered by time (then key). */
  private place(key: string, at: string, node: HTMLLIElement): void {
    const stick = ui.inbox.scrollHeight - ui.inbox.scrollTop - ui.inbox.clientHeight < 60;
    const existing = this.rows.find((r) => r.key === key);
    if (existing) {
      existing.node.replaceWith(node);
      existing.node = node;
    } else {
      let index = this.rows.length;
      while (index > 0) {
        const prev = this.rows[index - 1];
        if (!prev || prev.at < at || (prev.at === at && prev.key < key)) break;
        index--;
      }
      ui.inbox.insertBefore(node, this.rows[index]?.node ?? null);
      this.rows.splice(index, 0, { key, at, node });
    }
    if (stick) ui.inbox.scrollTop = ui.inbox.scrollHeight;
  }

  private renderAll(): void {
    this.rows = [];
    while (ui.inbox.firstChild) ui.inbox.removeChild(ui.inbox.firstChild);
    for (const item of this.sent) this.place(`out:${item.id}`, item.at, this.renderSent(item));
    for (const item of this.received.values()) this.place(`in:${item.id}`, item.at, this.renderReceived(item));
    ui.inbox.scrollTop = ui.inbox.scrollHeight;
  }

  private renderSent(item: SentItem): HTMLLIElement {
    const status =
      item.state === 'sending' ? el('span', { class: 'status' }, 'Sending…')
      : item.state === 'sent' ? el('span', { class: 'status' }, 'Sent')
      : el('span', { class: 'status failed' }, `Not delivered: ${item.error ?? 'unknown error'}`);
    const li = el('li', { class: `bubble mine state-${item.state}`, 'data-id': item.id }, el('p', { class: 'text' }, item.text), el('p', { class: 'meta' }, el('time', { datetime: item.at }, timeText(item.at)), ' ', status));
    if (item.state === 'failed') {
      const retry = el('button', { type: 'button', class: 'retry' }, 'Retry');
      retry.addEventListener('click', () => {
        item.state = 'sending';
        this.place(`out:${item.id}`, item.at, this.renderSent(item));
        void this.post(item);
      });
      li.append(retry);
    }
    return li;
  }

  private setTarget(a: HTMLAnchorElement): void {
    if (this.settings.newTab) a.target = '_blank';
    else a.removeAttribute('target');
  }

  private renderReceived(item: InboxItem): HTMLLIElement {
    const li = el('li', { class: `bubble theirs kind-${item.kind}`, 'data-id': item.id, 'data-kind': item.kind });
    const meta = el('p', { class: 'meta' }, el('time', { datetime: item.at }, timeText(item.at)));
    if (item.kind !== 'invite') {
      li.append(el('p', { class: 'text' }, item.text), meta);
      return li;
    }
    const url = safeLink(item.url);
    const button = url ? el('a', { class: 'invite-button', href: url.toString(), rel: 'noopener noreferrer' }, el('span', { class: 'lock', 'aria-hidden': 'true' }), 'Continue securely') : el('span', { class: 'invite-broken' }, 'This invite has no usable link.');
    if (button instanceof HTMLAnchorElement) this.setTarget(button);
    switch (this.settings.platform) {
      case 'messenger':
        // Messenger's button template: text on a card, the web_url button below it.
        li.append(el('div', { class: 'template' }, el('p', { class: 'text' }, item.text), el('div', { class: 'template-buttons' }, button)), meta);
        break;
      case 'whatsapp':
        // WhatsApp's interactive cta_url: body text, then a full-width link button.
        li.append(el('p', { class: 'text' }, item.text), meta, el('div', { class: 'cta' }, button));
        break;
      default:
        // SMS: plain text with the link in it; phones show a link preview card under it.
        li.append(
          el('p', { class: 'text' }, item.text, ' ', url ? el('span', { class: 'sms-link' }, `${url.origin}${url.pathname}…`) : null),
          el('div', { class: 'preview' }, el('p', { class: 'preview-title' }, 'Secure chat — your bank'), el('p', { class: 'preview-host' }, url?.host ?? ''), button),
          meta,
        );
    }
    return li;
  }
}

new Phone().start();
