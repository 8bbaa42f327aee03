/**
 * What the bot says, per language the classifier detects (en, es, fr, de).
 * Short, no sensitive detail, and never an echo of what the customer typed.
 */
import type { PivotIntent } from '../pivot/policy';

export type ReplyLanguage = 'en' | 'es' | 'fr' | 'de';

const WHY: Record<ReplyLanguage, Record<Exclude<PivotIntent, 'none'>, string>> = {
  en: {
    view_account: "To show your account details safely, let's continue in our secure chat.",
    update_profile: "To change your details safely, let's continue in our secure chat.",
    card_payment: "To pay by card safely, let's continue in our secure chat.",
    credential_disclosure: "Let's continue in our secure chat.",
    lost_device: "Let's continue in our secure chat.",
    trade: "To buy or sell investments safely, let's continue in our secure chat.",
    transfer_funds: "To transfer money safely, let's continue in our secure chat.",
    withdraw: "To withdraw money safely, let's continue in our secure chat.",
  },
  es: {
    view_account: 'Para ver los datos de su cuenta con seguridad, sigamos en nuestro chat seguro.',
    update_profile: 'Para cambiar sus datos con seguridad, sigamos en nuestro chat seguro.',
    card_payment: 'Para pagar con tarjeta con seguridad, sigamos en nuestro chat seguro.',
    credential_disclosure: 'Sigamos en nuestro chat seguro.',
    lost_device: 'Sigamos en nuestro chat seguro.',
    trade: 'Para comprar o vender inversiones con seguridad, sigamos en nuestro chat seguro.',
    transfer_funds: 'Para transferir dinero con seguridad, sigamos en nuestro chat seguro.',
    withdraw: 'Para retirar dinero con seguridad, sigamos en nuestro chat seguro.',
  },
  fr: {
    view_account: 'Pour consulter votre compte en toute sécurité, continuons dans notre chat sécurisé.',
    update_profile: 'Pour modifier vos coordonnées en toute sécurité, continuons dans notre chat sécurisé.',
    card_payment: 'Pour payer par carte en toute sécurité, continuons dans notre chat sécurisé.',
    credential_disclosure: 'Continuons dans notre chat sécurisé.',
    lost_device: 'Continuons dans notre chat sécurisé.',
    trade: 'Pour acheter ou vendre des placements en toute sécurité, continuons dans notre chat sécurisé.',
    transfer_funds: 'Pour faire un virement en toute sécurité, continuons dans notre chat sécurisé.',
    withdraw: 'Pour retirer de l’argent en toute sécurité, continuons dans notre chat sécurisé.',
  },
  de: {
    view_account: 'Um Ihre Kontodaten sicher anzuzeigen, machen wir in unserem sicheren Chat weiter.',
    update_profile: 'Um Ihre Daten sicher zu ändern, machen wir in unserem sicheren Chat weiter.',
    card_payment: 'Um sicher mit Karte zu zahlen, machen wir in unserem sicheren Chat weiter.',
    credential_disclosure: 'Machen wir in unserem sicheren Chat weiter.',
    lost_device: 'Machen wir in unserem sicheren Chat weiter.',
    trade: 'Um Wertpapiere sicher zu kaufen oder zu verkaufen, machen wir in unserem sicheren Chat weiter.',
    transfer_funds: 'Um Geld sicher zu überweisen, machen wir in unserem sicheren Chat weiter.',
    withdraw: 'Um Geld sicher abzuheben, machen wir in unserem sicheren Chat weiter.',
  },
};

const CREDENTIAL_WARNING: Record<ReplyLanguage, string> = {
  en: 'Please never share passwords, PINs or codes in this chat. We removed it from the conversation; please change it now.',
  es: 'Nunca comparta contraseñas, PIN ni códigos en este chat. Lo hemos eliminado de la conversación; cámbielo ahora.',
  fr: 'Ne partagez jamais de mot de passe, de code PIN ou de code dans ce chat. Nous l’avons retiré de la conversation ; changez-le maintenant.',
  de: 'Bitte teilen Sie niemals Passwörter, PINs oder Codes in diesem Chat. Wir haben es aus dem Gespräch entfernt; bitte ändern Sie es jetzt.',
};

/** The same warning when nothing was found to remove: it must not claim a removal that did not happen. */
const CREDENTIAL_WARNING_NOTHING_REMOVED: Record<ReplyLanguage, string> = {
  en: 'Please never share passwords, PINs or codes in this chat. If you shared one, please change it now.',
  es: 'Nunca comparta contraseñas, PIN ni códigos en este chat. Si compartió alguno, cámbielo ahora.',
  fr: 'Ne partagez jamais de mot de passe, de code PIN ou de code dans ce chat. Si vous en avez partagé un, changez-le maintenant.',
  de: 'Bitte teilen Sie niemals Passwörter, PINs oder Codes in diesem Chat. Falls Sie eines geteilt haben, ändern Sie es bitte jetzt.',
};

const LOST_DEVICE: Record<ReplyLanguage, string> = {
  en: 'We have signed out every secure chat session of yours and told an advisor.',
  es: 'Hemos cerrado todas sus sesiones de chat seguro y avisado a un asesor.',
  fr: 'Nous avons fermé toutes vos sessions de chat sécurisé et prévenu un conseiller.',
  de: 'Wir haben alle Ihre sicheren Chat-Sitzungen beendet und einen Berater informiert.',
};

const INVITE_STILL_VALID: Record<ReplyLanguage, string> = {
  en: 'Your secure link above is still valid: tap "Continue securely" to go on. Reply "new link" if it does not work.',
  es: 'Su enlace seguro sigue siendo válido: toque "Continuar de forma segura". Responda "nuevo enlace" si no funciona.',
  fr: 'Votre lien sécurisé est toujours valable : touchez « Continuer en sécurité ». Répondez « nouveau lien » s’il ne fonctionne pas.',
  de: 'Ihr sicherer Link ist noch gültig: Tippen Sie auf „Sicher fortfahren“. Antworten Sie „neuer Link“, falls er nicht funktioniert.',
};

const LOCKED: Record<ReplyLanguage, string> = {
  en: 'Your secure chat is locked and every open session was ended. An advisor will contact you to unlock it.',
  es: 'Su chat seguro está bloqueado y se cerraron todas las sesiones abiertas. Un asesor le contactará para desbloquearlo.',
  fr: 'Votre chat sécurisé est verrouillé et toutes les sessions ouvertes ont été fermées. Un conseiller vous contactera pour le déverrouiller.',
  de: 'Ihr sicherer Chat ist gesperrt und alle offenen Sitzungen wurden beendet. Ein Berater meldet sich zum Entsperren.',
};

/** The label of the native button on every platform. */
export const CONTINUE_SECURELY: Record<ReplyLanguage, string> = {
  en: 'Continue securely',
  es: 'Continuar de forma segura',
  fr: 'Continuer en sécurité',
  de: 'Sicher fortfahren',
};

export function languageOf(value: string | undefined): ReplyLanguage {
  return value === 'es' || value === 'fr' || value === 'de' ? value : 'en';
}

export const replies = {
  why: (intent: Exclude<PivotIntent, 'none'>, lang: ReplyLanguage) => WHY[lang][intent],
  credentialWarning: (lang: ReplyLanguage, removed: boolean) => (removed ? CREDENTIAL_WARNING : CREDENTIAL_WARNING_NOTHING_REMOVED)[lang],
  lostDevice: (lang: ReplyLanguage) => LOST_DEVICE[lang],
  inviteStillValid: (lang: ReplyLanguage) => INVITE_STILL_VALID[lang],
  locked: (lang: ReplyLanguage) => LOCKED[lang],
};
