/** The audit trail of the open conversation: security events, oldest first, appended as they happen. */
import type { AuditEntry } from './api';
import { AUDIT_LABELS, intentLabel } from './labels';
import { clear, el, shortTime, timeEl } from './dom';

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/;
const valueText = (v: string | number | boolean | null): string => (typeof v === 'string' && ISO_TIME.test(v) ? shortTime(v) : String(v));

function describe(entry: AuditEntry): string[] {
  const lines: string[] = [];
  const who = entry.actor ? `${entry.actor.kind}${entry.actor.id ? ` ${entry.actor.id}` : ''}` : undefined;
  const what = [who ? `by ${who}` : '', entry.intent ? intentLabel(entry.intent) : '', entry.tier !== undefined ? `tier ${entry.tier}` : '', entry.reason ? `reason: ${entry.reason}` : ''].filter(Boolean);
  if (what.length) lines.push(what.join(' · '));
  if (entry.client) lines.push([entry.client.userAgent, entry.client.ip].filter(Boolean).join(' · '));
  if (entry.detail) {
    const detail = Object.entries(entry.detail).map(([k, v]) => `${k}: ${valueText(v)}`).join(', ');
    if (detail) lines.push(detail);
  }
  return lines;
}

export class AuditView {
  private readonly ids = new Set<string>();
  private last: string | undefined;

  constructor(
    private readonly root: HTMLOListElement,
    private readonly empty: HTMLElement,
  ) {}

  reset(): void {
    this.ids.clear();
    this.last = undefined;
    clear(this.root);
    this.empty.hidden = false;
  }

  get lastId(): string | undefined {
    return this.last;
  }

  add(entries: readonly AuditEntry[]): void {
    for (const entry of entries) {
      if (this.ids.has(entry.id)) continue;
      this.ids.add(entry.id);
      this.last = entry.id;
      this.root.append(
        el(
          'li',
          { class: `audit-entry audit-${entry.type}`, 'data-type': entry.type },
          el('p', { class: 'audit-head' }, timeEl(entry.at), ' ', el('strong', {}, AUDIT_LABELS[entry.type] ?? entry.type)),
          ...describe(entry).map((line) => el('p', { class: 'audit-line' }, line)),
        ),
      );
    }
    this.empty.hidden = this.ids.size > 0;
  }
}
