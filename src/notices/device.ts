/**
 * "Chrome on Android": the kind of device a secure session was opened from,
 * for the customer notice. Deliberately coarse (browser family and OS, no
 * versions, never the IP): enough for a customer to recognise "not me",
 * nothing an onlooker of the public chat could use.
 */
const BROWSERS: Array<[RegExp, string]> = [
  [/\bFBAN|FBAV|FB_IAB\b/, 'Messenger'],
  [/\bInstagram\b/, 'Instagram'],
  [/\bEdgA?\/|\bEdg\//, 'Edge'],
  [/\bSamsungBrowser\//, 'Samsung Internet'],
  [/\bOPR\/|\bOpera\b/, 'Opera'],
  [/\bFirefox\/|\bFxiOS\//, 'Firefox'],
  [/\bCriOS\/|\b(?:Headless)?Chrome\/|\bChromium\//, 'Chrome'],
  [/\bSafari\//, 'Safari'],
];

const SYSTEMS: Array<[RegExp, string]> = [
  [/\bAndroid\b/, 'Android'],
  [/\biPhone\b|\biPad\b|\biPod\b/, 'iOS'],
  [/\bWindows\b/, 'Windows'],
  [/\bMac OS X\b|\bMacintosh\b/, 'macOS'],
  [/\bCrOS\b/, 'ChromeOS'],
  [/\bLinux\b/, 'Linux'],
];

export function describeDevice(userAgent: string): string {
  const browser = BROWSERS.find(([pattern]) => pattern.test(userAgent))?.[1] ?? 'an unknown browser';
  const system = SYSTEMS.find(([pattern]) => pattern.test(userAgent))?.[1];
  return system ? `${browser} on ${system}` : browser;
}

/** "14:02 UTC": the notice names the time, not the date (it arrives at once). */
export function clockTime(iso: string): string {
  const date = new Date(iso);
  return `${String(date.getUTCHours()).padStart(2, '0')}:${String(date.getUTCMinutes()).padStart(2, '0')} UTC`;
}

/** PRODUCT.md "Customer notices": no sensitive detail; LOCK, not STOP (carriers reserve STOP). */
export function sessionOpenedNotice(openedAt: string, userAgent: string): string {
  return `A secure session was opened at ${clockTime(openedAt)} from ${describeDevice(userAgent)}. Not you? Reply LOCK`;
}
