import { join } from 'node:path';
import { findPackageRoot, intentDataDir } from '../../src/bot/intent-corpus';
import { INTENTS, IntentClassifier, LANGUAGES, SENSITIVE_INTENTS, TIER_OF, loadIntentCorpus, normaliseForModel, type Intent, type Language } from '../../src/bot/intents';
import { PIVOT_INTENTS, tierOf } from '../../src/pivot/policy';

describe('intent catalogue', () => {
  it('has the canonical intents and PRODUCT.md tiers, the same as src/pivot/policy.ts', () => {
    expect([...INTENTS].sort()).toEqual([...PIVOT_INTENTS].sort());
    for (const intent of INTENTS) expect(TIER_OF[intent]).toBe(tierOf(intent));
    expect(TIER_OF).toEqual({
      none: 0,
      view_account: 1,
      update_profile: 2,
      card_payment: 2,
      credential_disclosure: 2,
      lost_device: 2,
      trade: 3,
      transfer_funds: 4,
      withdraw: 4,
    });
    expect(SENSITIVE_INTENTS).not.toContain('none');
    expect(SENSITIVE_INTENTS).toHaveLength(INTENTS.length - 1);
  });
});

describe('intent corpus', () => {
  it('is found by walking up to package.json, from the sources or from dist/', () => {
    const root = findPackageRoot();
    expect(findPackageRoot(join(root, 'dist', 'src', 'bot'))).toBe(root);
    expect(intentDataDir()).toBe(join(root, 'data', 'intents'));
  });

  it('has 40+ training and 10+ held-out messages per intent and language, and no held-out message in training', () => {
    const train = loadIntentCorpus('train');
    const heldout = loadIntentCorpus('heldout');
    const key = (text: string) => text.toLowerCase().replace(/\s+/g, ' ').trim();
    for (const language of LANGUAGES) {
      for (const intent of INTENTS) {
        expect({ language, intent, n: train[language].filter((e) => e.intent === intent).length >= 40 }).toEqual({ language, intent, n: true });
        expect({ language, intent, n: heldout[language].filter((e) => e.intent === intent).length >= 10 }).toEqual({ language, intent, n: true });
      }
      const trained = new Set(train[language].map((e) => key(e.text)));
      expect(heldout[language].map((e) => e.text).filter((t) => trained.has(key(t)))).toEqual([]);
    }
  });
});

describe('normaliseForModel', () => {
  it('turns masks, amounts and numbers into placeholder words and expands chat abbreviations', () => {
    expect(normaliseForModel('pls xfer £200 to acct 1234', 'en')).toBe('please transfer xamountx to account xnumx');
    expect(normaliseForModel('my pin is [removed]', 'en')).toBe('my pin is xsecretx');
    expect(normaliseForModel('pay with •••• •••• •••• 1111', 'en')).toBe('pay with xcardx');
    expect(normaliseForModel('virement vers FR•• •••• •••• 0189 stp', 'fr')).toBe("virement vers xibanx s'il te plaît");
    expect(normaliseForModel('rebalance my 401(k)', 'en')).toBe('rebalance my xretirementplanx');
    expect(normaliseForModel('me robaron el móvil', 'es')).toBe('me robaron el móvil xdevicelossx');
  });
});

describe('IntentClassifier', () => {
  let classifier: IntentClassifier;
  // Training takes a few seconds; the generous timeout is for loaded CI machines, not a performance check.
  beforeAll(async () => {
    classifier = await IntentClassifier.shared(); // the train split, trained once per run (global setup warms its cache)
  }, 120_000);

  const cases: Array<[Language, Intent, string]> = [
    ['en', 'view_account', 'hiya, what is the balance on my current account?'],
    ['en', 'view_account', 'did my paycheck land yet'],
    ['en', 'update_profile', 'i need to update my home address, i moved'],
    ['en', 'card_payment', 'i want to pay off my credit card'],
    ['en', 'trade', 'please buy 15 shares of microsoft'],
    ['en', 'transfer_funds', 'hey! pls xfer £250 to my sister'],
    ['en', 'transfer_funds', 'send 300 to sort code 20-00-00 account 55779911'],
    ['en', 'withdraw', 'i need to withdraw 400 in cash'],
    ['en', 'credential_disclosure', 'my pin is 4821'],
    ['en', 'credential_disclosure', 'the code you sent is 558201'],
    ['en', 'lost_device', 'my phone got stolen on the bus'],
    ['es', 'view_account', 'hola, cuál es el saldo de mi cuenta?'],
    ['es', 'update_profile', 'quiero cambiar mi número de móvil'],
    ['es', 'card_payment', 'quiero pagar con mi tarjeta de crédito'],
    ['es', 'trade', 'quiero comprar acciones de telefónica'],
    ['es', 'transfer_funds', 'haz una transferencia de 200 € a mi hermano'],
    ['es', 'withdraw', 'quiero sacar 100 euros del cajero'],
    ['es', 'credential_disclosure', 'mi contraseña es Gato2021'],
    ['es', 'lost_device', 'perdí mi móvil'],
    ['fr', 'view_account', 'bonjour, quel est le solde de mon compte ?'],
    ['fr', 'update_profile', 'je veux changer mon adresse e-mail'],
    ['fr', 'card_payment', 'je voudrais payer par carte bancaire'],
    ['fr', 'trade', 'je veux vendre mes actions renault'],
    ['fr', 'transfer_funds', 'je veux faire un virement de 300 € à mon frère'],
    ['fr', 'withdraw', 'je veux retirer 200 euros en liquide'],
    ['fr', 'credential_disclosure', 'mon code secret est 4821'],
    ['fr', 'lost_device', "on m'a volé mon téléphone"],
    ['de', 'view_account', 'hallo, wie ist mein kontostand?'],
    ['de', 'update_profile', 'ich möchte meine adresse ändern'],
    ['de', 'card_payment', 'ich möchte mit meiner kreditkarte bezahlen'],
    ['de', 'trade', 'ich möchte 10 siemens aktien kaufen'],
    ['de', 'transfer_funds', 'ich möchte 200 € an meinen bruder überweisen'],
    ['de', 'withdraw', 'ich möchte 300 euro bar abheben'],
    ['de', 'credential_disclosure', 'meine PIN ist 4821'],
    ['de', 'lost_device', 'mein handy wurde gestohlen'],
  ];

  it.each(cases)('[%s] %s: %s', async (language, intent, text) => {
    const result = await classifier.classify(text);
    expect({ intent: result.intent, language: result.language }).toEqual({ intent, language });
    expect(result.tier).toBe(TIER_OF[intent]);
    expect(result.score).toBeGreaterThan(0);
    expect(result.score).toBeLessThanOrEqual(1);
  });

  it.each([
    'what does a withdrawal penalty mean',
    'how do I become a teller',
    'what are your opening hours',
    'hello!',
    'thanks, that is all',
    'qué significa la comisión de retirada',
    'cuál es vuestro horario de apertura',
    "quels sont vos horaires d'ouverture",
    'comment devenir guichetier',
    'wie sind eure öffnungszeiten',
    'was bedeutet eine vorfälligkeitsentschädigung',
  ])('near-miss stays none: %s', async (text) => {
    const result = await classifier.classify(text);
    expect({ intent: result.intent, tier: result.tier }).toEqual({ intent: 'none', tier: 0 });
  });

  it('recognises text that was already redacted before it was stored', async () => {
    expect((await classifier.classify('my pin is [removed]')).intent).toBe('credential_disclosure');
    expect((await classifier.classify('mi clave es [removed]')).intent).toBe('credential_disclosure');
    expect((await classifier.classify('here is my card •••• •••• •••• 1111')).intent).toBe('card_payment');
  });

  it('pivots on a card number or IBAN typed into the chat, unless a higher tier is asked for', async () => {
    expect((await classifier.classify('4111 1111 1111 1111 exp 09/27')).intent).toBe('card_payment');
    const bareIban = await classifier.classify('DE89 3704 0044 0532 0130 00');
    expect(bareIban.tier).toBeGreaterThanOrEqual(TIER_OF.card_payment);
    expect((await classifier.classify('transfer 500 to GB29 NWBK 6016 1331 9268 19 please')).intent).toBe('transfer_funds');
  });

  it('answers none for empty or letter-less input, never throwing', async () => {
    for (const text of ['', '   ', '😀', '???']) {
      const result = await classifier.classify(text);
      expect(result.intent).toBe('none');
      expect(LANGUAGES).toContain(result.language);
    }
  });

  it('trains from a corpus it is given', async () => {
    const tiny = await IntentClassifier.train({
      en: [
        { text: 'what is my balance', intent: 'view_account' },
        { text: 'hello there', intent: 'none' },
      ],
      es: [
        { text: 'cuál es mi saldo', intent: 'view_account' },
        { text: 'hola', intent: 'none' },
      ],
      fr: [{ text: 'quel est mon solde', intent: 'view_account' }],
      de: [{ text: 'wie ist mein kontostand', intent: 'view_account' }],
    });
    expect((await tiny.classify('what is my balance please')).intent).toBe('view_account');
  });
});
