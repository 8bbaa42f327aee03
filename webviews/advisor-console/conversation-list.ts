/**
 * The conversation list: one button per conversation (channel badge,
 * customer id, last activity, secure state, unread count), newest activity
 * first. Elements are kept per conversation and moved, not rebuilt, so live
 * updates do not steal keyboard focus. Arrow keys, Home and End move between
 * conversations (roving tabindex): Tab leaves the list in one step.
 */
import type { Conversation } from '../../src/chat/events';
import { ALERT_LABELS, channelLabel, secureLabel } from './labels';
import { appendAll, clear, el, shortTime, timeEl } from './dom';

export interface ListView {
  selected?: string;
  unread: ReadonlyMap<string, number>;
  /** Conversation id → alert reason. */
  alerts: ReadonlyMap<string, string>;
}

export class ConversationList {
  private readonly rows = new Map<string, HTMLLIElement>();

  constructor(
    private readonly root: HTMLUListElement,
    private readonly empty: HTMLElement,
    onSelect: (id: string) => void,
    signal: AbortSignal,
  ) {
    clear(root);
    root.addEventListener(
      'click',
      (event) => {
        const button = event.target instanceof Element ? event.target.closest<HTMLButtonElement>('button[data-id]') : null;
        if (button?.dataset.id) onSelect(button.dataset.id);
      },
      { signal },
    );
    root.addEventListener('keydown', (event) => this.onKey(event), { signal });
  }

  render(conversations: readonly Conversation[], view: ListView): void {
    const focused = document.activeElement instanceof HTMLElement && this.root.contains(document.activeElement) ? document.activeElement.dataset.id : undefined;
    const keep = new Set<string>();
    conversations.forEach((conversation, index) => {
      keep.add(conversation.id);
      const row = this.rowFor(conversation, view);
      if (this.root.children[index] !== row) this.root.insertBefore(row, this.root.children[index] ?? null);
    });
    for (const [id, row] of this.rows) {
      if (!keep.has(id)) {
        row.remove();
        this.rows.delete(id);
      }
    }
    this.empty.hidden = conversations.length > 0;
    this.updateTabStops(view.selected, focused);
    if (focused) {
      const button = this.buttonOf(focused);
      if (button && document.activeElement !== button) button.focus({ preventScroll: true });
    }
  }

  private rowFor(c: Conversation, view: ListView): HTMLLIElement {
    let row = this.rows.get(c.id);
    if (!row) {
      row = el('li');
      row.append(el('button', { type: 'button', class: 'conversation', 'data-id': c.id }));
      this.rows.set(c.id, row);
    }
    const button = row.firstElementChild as HTMLButtonElement;
    const unread = view.unread.get(c.id) ?? 0;
    const alert = view.alerts.get(c.id);
    const secure = secureLabel(c.secure);
    button.dataset.secure = c.secure;
    button.dataset.status = c.status;
    if (c.id === view.selected) button.setAttribute('aria-current', 'true');
    else button.removeAttribute('aria-current');
    const parts = [
      c.externalUserId,
      channelLabel(c.channel),
      secure.long,
      c.status === 'closed' ? 'closed' : '',
      unread > 0 ? `${unread} unread` : '',
      alert ? `alert: ${ALERT_LABELS[alert] ?? alert}` : '',
      `last activity ${shortTime(c.lastMessageAt)}`,
    ].filter(Boolean);
    button.setAttribute('aria-label', parts.join(', '));
    clear(button);
    appendAll(
      button,
      el('span', { class: `badge channel channel-${c.channel}`, 'aria-hidden': 'true' }, channelLabel(c.channel)),
      el('span', { class: 'who', 'aria-hidden': 'true' }, c.externalUserId),
      el('span', { class: 'when', 'aria-hidden': 'true' }, timeEl(c.lastMessageAt)),
      el('span', { class: `badge secure secure-${c.secure}`, 'aria-hidden': 'true' }, secure.short),
      c.status === 'closed' ? el('span', { class: 'badge closed', 'aria-hidden': 'true' }, 'Closed') : null,
      alert ? el('span', { class: 'badge alert', 'aria-hidden': 'true' }, 'Alert') : null,
      unread > 0 ? el('span', { class: 'unread', 'aria-hidden': 'true', 'data-unread': unread }, String(unread)) : null,
    );
    return row;
  }

  private buttons(): HTMLButtonElement[] {
    return Array.from(this.root.querySelectorAll<HTMLButtonElement>('button[data-id]'));
  }

  private buttonOf(id: string): HTMLButtonElement | undefined {
    return this.buttons().find((b) => b.dataset.id === id);
  }

  private updateTabStops(selected: string | undefined, focused: string | undefined): void {
    const buttons = this.buttons();
    const stop = buttons.find((b) => b.dataset.id === focused) ?? buttons.find((b) => b.dataset.id === selected) ?? buttons[0];
    for (const b of buttons) b.tabIndex = b === stop ? 0 : -1;
  }

  private onKey(event: KeyboardEvent): void {
    const buttons = this.buttons();
    const index = buttons.findIndex((b) => b === document.activeElement);
    if (index < 0) return;
    const target =
      event.key === 'ArrowDown' ? buttons[Math.min(index + 1, buttons.length - 1)]
      : event.key === 'ArrowUp' ? buttons[Math.max(index - 1, 0)]
      : event.key === 'Home' ? buttons[0]
      : event.key === 'End' ? buttons[buttons.length - 1]
      : undefined;
    if (!target) return;
    event.preventDefault();
    for (const b of buttons) b.tabIndex = b === target ? 0 : -1;
    target.focus();
  }
}
