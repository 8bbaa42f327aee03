import { abaValid, containsSensitiveData, ibanValid, luhnValid, maskPans, redact } from '../../src/bot/redact';

describe('luhnValid / ibanValid / abaValid', () => {
  it('accepts well-known test numbers and rejects one-digit changes', () => {
    expect(luhnValid('4111111111111111')).toBe(true);
    expect(luhnValid('5500000000000004')).toBe(true);
    expect(luhnValid('378282246310005')).toBe(true);
    expect(luhnValid('4111111111111112')).toBe(false);
    expect(ibanValid('DE89370400440532013000')).toBe(true);
    expect(ibanValid('GB29NWBK60161331926819')).toBe(true);
    expect(ibanValid('gb29nwbk60161331926819')).toBe(true);
    expect(ibanValid('FR7630006000011234567890189')).toBe(true);
    expect(ibanValid('ES9121000418450200051332')).toBe(true);
    expect(ibanValid('DE89370400440532013001')).toBe(false);
    expect(ibanValid('DE8937040044053201300')).toBe(false); // one character short for DE
    expect(abaValid('021000021')).toBe(true);
    expect(abaValid('021000022')).toBe(false);
  });
});

describe('redact: card numbers', () => {
  it.each([
    ['pay with 4111 1111 1111 1111 please', 'pay with •••• •••• •••• 1111 please'],
    ['pay with 4111-1111-1111-1111', 'pay with •••• •••• •••• 1111'],
    ['card:5500000000000004.', 'card:•••• •••• •••• 0004.'],
    ['amex 3782 822463 10005 exp 09/27', 'amex •••• •••• •••• 0005 exp 09/27'],
    ['4111 1111 1111 1111 0927', '•••• •••• •••• 1111 0927'],
  ])('%s', (input, expected) => {
    expect(redact(input)).toEqual({ text: expected, redacted: true, kinds: ['pan'] });
  });

  it('leaves digit runs that are not Luhn-valid, or too short, alone', () => {
    for (const text of ['ref 4111 1111 1111 1112', 'call 0161 496 0000', 'send 1500 to mum', 'order 123456789012']) {
      expect(redact(text)).toEqual({ text, redacted: false, kinds: [] });
    }
  });

  it('maskPans masks cards only', () => {
    expect(maskPans('my pin is 4821, card 4111111111111111, DE89 3704 0044 0532 0130 00')).toBe(
      'my pin is 4821, card •••• •••• •••• 1111, DE89 3704 0044 0532 0130 00',
    );
  });
});

describe('redact: groups as people type and paste them', () => {
  it.each([
    ['double spaces', 'my card is 4111  1111  1111  1111', 'my card is •••• •••• •••• 1111', 'pan'],
    ['no-break spaces', 'card 4111\u00a01111\u00a01111\u00a01111', 'card •••• •••• •••• 1111', 'pan'],
    ['spaced dashes', 'card 4111 - 1111 - 1111 - 1111 ok', 'card •••• •••• •••• 1111 ok', 'pan'],
    ['en dashes and tabs', 'card 4111\u20131111\t1111\u20131111', 'card •••• •••• •••• 1111', 'pan'],
    ['IBAN with dashes', 'to DE89-3704-0044-0532-0130-00 please', 'to DE•• •••• •••• 3000 please', 'iban'],
    ['IBAN with double spaces', 'to DE89  3704  0044  0532  0130  00', 'to DE•• •••• •••• 3000', 'iban'],
  ])('%s', (_name, input, expected, kind) => {
    expect(redact(input)).toEqual({ text: expected, redacted: true, kinds: [kind] });
    expect(containsSensitiveData(input)).toBe(true);
  });

  it('four spaces or two dashes do not join groups', () => {
    expect(redact('4111    1111    1111    1111').redacted).toBe(false);
    expect(redact('4111--1111--1111--1111').redacted).toBe(false);
  });

  it('wide separators join only a card\'s own groups: phone numbers, dates, amounts and "per week" are left alone', () => {
    for (const text of [
      'Please call me on 07484 336281 - 18 08 2024 after 5',
      'Date\t15\t06\t2024\t1250\t00',
      'Rent is £250 pw (£1083 pcm)',
      'What I pay pw is £250',
    ]) {
      expect(redact(text)).toEqual({ text, redacted: false, kinds: [] });
    }
    for (const text of ['For your account please call 0800 – 123 – 4567', 'Account team: call 0345  300  0000 (Mon - Fri)', 'Your account statement covers 01 - 05 - 2024']) {
      expect(containsSensitiveData(text)).toBe(false);
    }
  });
});

describe('redact: IBANs', () => {
  it.each([
    ['überweisung an DE89 3704 0044 0532 0130 00 bitte', 'überweisung an DE•• •••• •••• 3000 bitte'],
    ['iban:GB29NWBK60161331926819', 'iban:GB•• •••• •••• 6819'],
    ['al ES91 2100 0418 4502 0005 1332.', 'al ES•• •••• •••• 1332.'],
    ['vers fr76 3000 6000 0112 3456 7890 189', 'vers FR•• •••• •••• 0189'],
  ])('%s', (input, expected) => {
    expect(redact(input)).toEqual({ text: expected, redacted: true, kinds: ['iban'] });
  });

  it('does not take IBAN-shaped text with a wrong check for an IBAN', () => {
    expect(redact('DE89 3704 0044 0532 0130 01').kinds).not.toContain('iban');
    expect(redact('DE89370400440532013001')).toEqual({ text: 'DE89370400440532013001', redacted: false, kinds: [] });
  });
});

describe('redact: secrets after their keyword', () => {
  it.each([
    ['my pin is 4821', 'my pin is [removed]'],
    ['the code you sent is 558201', 'the code you sent is [removed]'],
    ['verification code 448 219', 'verification code [removed]'],
    ["here's my password: Tr0ub4dor&3", "here's my password: [removed]"],
    ['my password is sunshine', 'my password is [removed]'],
    ['use my password Horse!Battery9 thanks', 'use my password [removed] thanks'],
    ['4821 is my pin', '[removed] is my pin'],
    ['i received 402918 by text', 'i received [removed] by text'],
    ['ich habe 402 918 per SMS bekommen', 'ich habe [removed] per SMS bekommen'],
    ['cvv 123', 'cvv [removed]'],
    ['my security code is 123', 'my security code is [removed]'],
    ['passwd is Blue!Moon7', 'passwd is [removed]'],
    ['mi contraseña es Pelusa2020!', 'mi contraseña es [removed]'],
    ['el código que me mandaste es 558201', 'el código que me mandaste es [removed]'],
    ['mi clave es 4455', 'mi clave es [removed]'],
    ["mon mot de passe c'est soleil99", "mon mot de passe c'est [removed]"],
    ['le code reçu par sms est 119283', 'le code reçu par sms est [removed]'],
    ['code secret 0000', 'code secret [removed]'],
    ['mein Passwort ist Sonne99', 'mein Passwort ist [removed]'],
    ['meine PIN lautet 7731', 'meine PIN lautet [removed]'],
    ['pushTAN 123456', 'pushTAN [removed]'],
    ['Bestätigungscode: 864209', 'Bestätigungscode: [removed]'],
    ['Kennwort = Mieze2020!', 'Kennwort = [removed]'],
    // Any case, Unicode case folds included (ſ folds to s): the quick keyword pre-check uses the same /iu flags.
    ['MY PIN IS 4821', 'MY PIN IS [removed]'],
    ['PAſſWORD: hunter2', 'PAſſWORD: [removed]'],
    ['KENNWORT ist Mieze2020!', 'KENNWORT ist [removed]'],
    ['CÓDIGO 123456', 'CÓDIGO [removed]'],
    ['my Passcode: 9981', 'my Passcode: [removed]'],
    ['my pwd is x9y8z7', 'my pwd is [removed]'],
  ])('%s', (input, expected) => {
    expect(redact(input)).toEqual({ text: expected, redacted: true, kinds: ['secret'] });
  });

  it.each([
    'my password is not working',
    "my password isn't working",
    'i forgot my password',
    'change my pin number',
    'what is a sort code',
    'sort code 12-34-56',
    'zip code 90210',
    'código postal 28001',
    'promo code 12345678',
    'mein Passwort ist falsch',
    'mon mot de passe est bloqué',
    'the code is 1234 euros?',
  ])('leaves "%s" alone', (text) => {
    expect(redact(text)).toEqual({ text, redacted: false, kinds: [] });
  });

  it('reports every kind found, once each, in a fixed order', () => {
    const r = redact('pin 1234, card 4111 1111 1111 1111, iban DE89370400440532013000, otp 998877');
    expect(r.kinds).toEqual(['pan', 'iban', 'secret']);
    expect(r.text).toBe('pin [removed], card •••• •••• •••• 1111, iban DE•• •••• •••• 3000, otp [removed]');
  });

  it('is idempotent: redacted text passes through unchanged and unreported', () => {
    const once = redact('my pin is 4821 and card 4111111111111111 and iban GB29 NWBK 6016 1331 9268 19');
    expect(redact(once.text)).toEqual({ text: once.text, redacted: false, kinds: [] });
  });
});

describe('containsSensitiveData', () => {
  it.each([
    'your card 4111 1111 1111 1111 is blocked',
    'IBAN: DE89 3704 0044 0532 0130 00',
    'account number 12345678',
    'acct 0012345678',
    'su número de cuenta es 0049 1500 05 1234567892',
    'votre compte 30004 00000 12345678',
    'Kontonummer 532013000',
    'sort code 12-34-56 account 12345678',
    '12-34-56 12345678',
    'routing number 021000021',
    'CLABE 032180000118359719',
  ])('flags "%s"', (text) => {
    expect(containsSensitiveData(text)).toBe(true);
  });

  it.each([
    'Hello, your transfer is on its way',
    'our branch opens at 9:30, call 0800 123 456',
    'your reference is 4521',
    'the account was updated on 12/03/2025',
    'we sent 1,250.00 EUR',
  ])('does not flag "%s"', (text) => {
    expect(containsSensitiveData(text)).toBe(false);
  });
});
