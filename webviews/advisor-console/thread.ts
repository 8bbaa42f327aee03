/**
 * One conversation's thread, oldest first, with its two legs told apart:
 * messages on the public platform (SMS, Messenger, ...) and messages on the
 * secure channel carry different labels, colours and borders, and a divider
 * marks every move from one leg to the other. Messages are keyed by id, so
 * the same message from the REST page, the POST answer and the live socket
 * is shown once.
 */
import type { Message } from '../../src/chat/events';
import { AUTHOR_LABELS, channelLabel } from './labels';
import { clear, el, timeEl } from './dom';

/** Stream ids `ms-seq` compare as numbers, not strings. */
export function compareMessageIds(a: string, b: string): number {
  const [am = 0, as = 0] = a.split('-').map(Number);
  const [bm = 0, bs = 0] = b.split('-').map(Number);
  return am - bm || as - bs;
}

const legOf = (m: Message): 'secure' | 'public' => (m.channel === 'secure' ? 'secure' : 'public');

function deliveryKey(m: Message): string {
  return m.delivery ? `${m.delivery.status}:${m.delivery.error ?? ''}` : '';
}

export class ThreadView {
  private messages: Message[] = [];
  private readonly ids = new Set<string>();
  private readonly rows = new Map<string, HTMLLIElement>();

  constructor(
    private readonly root: HTMLOListElement,
    private readonly scroller: HTMLElement,
  ) {}

  reset(): void {
    this.messages = [];
    this.ids.clear();
    this.rows.clear();
    clear(this.root);
  }

  get lastId(): string | undefined {
    return this.messages[this.messages.length - 1]?.id;
  }

  get size(): number {
    return this.messages.length;
  }

  /**
   * Adds messages not shown yet and returns them. A message already shown is
   * redrawn in place when its delivery state changed (an outbound send that
   * failed after it was first shown).
   */
  add(incoming: readonly Message[]): Message[] {
    for (const m of incoming) if (this.ids.has(m.id)) this.refresh(m);
    const fresh = incoming.filter((m) => !this.ids.has(m.id));
    if (fresh.length === 0) return [];
    const stick = this.nearBottom();
    const appendOnly = fresh.every((m) => this.lastId === undefined || compareMessageIds(m.id, this.lastId) > 0);
    for (const m of fresh) this.ids.add(m.id);
    fresh.sort((a, b) => compareMessageIds(a.id, b.id));
    if (appendOnly) {
      for (const m of fresh) {
        this.appendRow(this.messages[this.messages.length - 1], m);
        this.messages.push(m);
      }
    } else {
      this.messages = [...this.messages, ...fresh].sort((a, b) => compareMessageIds(a.id, b.id));
      clear(this.root);
      this.rows.clear();
      this.messages.forEach((m, i) => this.appendRow(this.messages[i - 1], m));
    }
    if (stick) this.scroller.scrollTop = this.scroller.scrollHeight;
    return fresh;
  }

  private nearBottom(): boolean {
    return this.scroller.scrollHeight - this.scroller.scrollTop - this.scroller.clientHeight < 80;
  }

  private refresh(m: Message): void {
    const index = this.messages.findIndex((known) => known.id === m.id);
    const known = this.messages[index];
    const row = this.rows.get(m.id);
    if (!known || !row || deliveryKey(known) === deliveryKey(m)) return;
    this.messages[index] = m;
    const next = this.renderRow(m);
    row.replaceWith(next);
    this.rows.set(m.id, next);
  }

  private appendRow(previous: Message | undefined, m: Message): void {
    const leg = legOf(m);
    if (previous && legOf(previous) !== leg) {
      const text = leg === 'secure' ? 'Continued on the secure channel' : `Back on the public channel (${channelLabel(m.channel)})`;
      this.root.append(el('li', { class: `leg-divider leg-divider-${leg}` }, el('span', {}, text)));
    }
    const row = this.renderRow(m);
    this.rows.set(m.id, row);
    this.root.append(row);
  }

  private renderRow(m: Message): HTMLLIElement {
    const leg = legOf(m);
    const legLabel = leg === 'secure' ? 'Secure channel' : `${channelLabel(m.channel)} · public`;
    const delivery = m.delivery;
    return el(
      'li',
      { class: `message author-${m.author} leg-${leg}`, 'data-id': m.id, 'data-author': m.author, 'data-leg': leg },
      el(
        'p',
        { class: 'meta' },
        el('span', { class: 'author' }, AUTHOR_LABELS[m.author] ?? m.author),
        ' ',
        el('span', { class: `leg-tag leg-tag-${leg}` }, legLabel),
        ' ',
        timeEl(m.createdAt),
        m.redacted ? el('span', { class: 'tag redacted', title: 'Card numbers, IBANs or secrets were removed before storing' }, 'redacted') : null,
        delivery?.status === 'failed' ? el('span', { class: 'tag failed' }, `not delivered${delivery.error ? `: ${delivery.error}` : ''}`) : null,
        delivery && delivery.status !== 'failed' ? el('span', { class: 'tag delivery' }, delivery.status) : null,
      ),
      el('p', { class: 'text' }, m.text),
    );
  }
}
