/**
 * SMS segment arithmetic, and what a typical invite costs: the pivot link
 * carries a compact JWS (EdDSA, the claims PRODUCT.md lists) in its fragment.
 */
import { generateKeyPair, SignJWT } from 'jose';
import { smsInviteText } from '../../../connectors/twilio/twilio.connector';
import { smsSegments } from '../../../connectors/twilio/sms-segments';

describe('smsSegments', () => {
  it('counts GSM-7 (160 / 153 per part), its two-septet extension characters, and UCS-2 (70 / 67)', () => {
    expect(smsSegments('a'.repeat(160))).toEqual({ encoding: 'GSM-7', units: 160, segments: 1 });
    expect(smsSegments('a'.repeat(161))).toEqual({ encoding: 'GSM-7', units: 161, segments: 2 });
    expect(smsSegments('{'.repeat(80))).toEqual({ encoding: 'GSM-7', units: 160, segments: 1 });
    expect(smsSegments('a'.repeat(306))).toMatchObject({ segments: 2 });
    expect(smsSegments('a'.repeat(307))).toMatchObject({ segments: 3 });
    expect(smsSegments('é'.repeat(70))).toMatchObject({ encoding: 'GSM-7', segments: 1 });
    expect(smsSegments(`${'a'.repeat(69)}ł`)).toEqual({ encoding: 'UCS-2', units: 70, segments: 1 });
    expect(smsSegments(`${'a'.repeat(70)}😀`)).toEqual({ encoding: 'UCS-2', units: 72, segments: 2 });
  });

  it('a typical invite (EdDSA pivot token in the link) is GSM-7 and takes 4 segments', async () => {
    const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    const token = await new SignJWT({ intent: 'transfer_funds' })
      .setProtectedHeader({ alg: 'EdDSA', typ: 'pivot+jwt', kid: 'k-2026-01' })
      .setIssuer('https://chat.bank.example')
      .setAudience('https://chat.bank.example/secure')
      .setSubject('3f1c2a9e-8a4b-4c1d-9e2f-6b7a8c9d0e1f')
      .setJti('b2c8e4f0-1a2b-4c3d-8e9f-0a1b2c3d4e5f')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(privateKey);
    const text = smsInviteText({ url: `https://chat.bank.example/secure/#t=${token}`, reason: "To transfer money safely, let's continue in our secure chat." });
    const count = smsSegments(text);
    expect(count.encoding).toBe('GSM-7');
    // A 458-character token, a 494-character link, 574 septets with the reason: 4 parts of 153.
    // `_` and `-` of base64url are GSM-7, so no UCS-2 penalty; the link alone would still take 4.
    expect(count).toEqual({ encoding: 'GSM-7', units: 574, segments: 4 });
  });
});
