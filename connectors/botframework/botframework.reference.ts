/**
 * Where the gateway keeps how to reach a Bot Framework user: the conversation
 * reference (serviceUrl, channel, conversation and bot ids) of the user's
 * latest message, in the store (`pg:bf:ref:<from.id>`) so any node's outbox
 * can answer, for as long as threads are kept. It is sealed with the store's
 * cipher: it names the customer's platform ids and tenant.
 *
 * One reference per platform user id: the answer goes to the conversation the
 * customer last wrote in, as WhatsApp answers through the door last used.
 */
import type { ConversationReference } from 'botbuilder';
import { keys } from '../../src/store/keys';
import type { Store } from '../../src/store/store';
import type { TextCipher } from '../../src/store/text-cipher';

export class ConversationReferences {
  constructor(
    private readonly store: Store,
    private readonly cipher: TextCipher,
    private readonly ttlSeconds: number,
  ) {}

  async remember(externalUserId: string, reference: ConversationReference): Promise<void> {
    const key = keys.botFrameworkReference(externalUserId);
    await this.store.set(key, this.cipher.encrypt(JSON.stringify(reference), key), this.ttlSeconds);
  }

  async find(externalUserId: string): Promise<ConversationReference | undefined> {
    const key = keys.botFrameworkReference(externalUserId);
    const sealed = await this.store.get(key);
    return sealed === undefined ? undefined : (JSON.parse(this.cipher.decrypt(sealed, key)) as ConversationReference);
  }
}
