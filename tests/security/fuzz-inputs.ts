/**
 * fast-check arbitraries for hostile names: traversal in every spelling, NUL and control
 * characters, Unicode look-alikes (fullwidth, bidi overrides, zero-width, combining marks,
 * lone surrogates), Windows forms, Object.prototype member names, over-long values, and random
 * binary strings.
 */
import fc from 'fast-check';

export const TRICKS = [
  '..', '.', '../..', '../../etc/passwd', '..%2f..%2fetc%2fpasswd', '%2e%2e', '%2e%2e%2f%2e%2e', '..%252f', 'a/../../b', './x',
  '\0', 'a\0b', 'daily\0', '\0../x', '..\\..\\windows', 'C:\\Windows\\win.ini', 'c:x', '/etc/passwd', '//etc', '~', '~root',
  '\u202edaily', 'ｄａｉｌｙ', 'daily\u200b', 'dai\u0307ly', '\u2024\u2024', '\uff0e\uff0e\uff0f', '\u2215etc', '%00', '%c0%ae%c0%ae',
  'CON', 'NUL', 'aux.txt', 'x'.repeat(65), 'x'.repeat(300), 'y'.repeat(5000), '\ud800', '\udfff\ud800', 'manifest.json', '.hidden',
  'constructor', 'valueOf', '__proto__', 'toString', 'hasOwnProperty', 'prototype', ' ', '', 'a b', 'a/b', 'a?b', 'a#b', 'a%b', '"><script>alert(1)</script>', "'; DROP TABLE x; --", '${HOME}', '$(id)', '`id`', '\n', 'a\r\nb',
];

/** A hostile string: a known trick, a combination of trick fragments, or random text (binary, graphemes, long). */
export const hostile: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...TRICKS) },
  { weight: 3, arbitrary: fc.array(fc.constantFrom('..', '.', '/', '\\', '\0', '%2f', '%00', '%2e', 'daily', '\u202e', '\uff0f', '\u0307', 'é', ':', '~'), { minLength: 1, maxLength: 10 }).map((a) => a.join('')) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }) },
  { weight: 1, arbitrary: fc.string({ minLength: 65, maxLength: 2000 }) },
);

/** A path segment for a URL: percent-encoded (lone surrogates as their raw UTF-8 bytes), or raw when `raw`. */
export function segment(v: string, raw: boolean): string {
  if (raw) return v.replace(/[?#&+]/g, encodeURIComponent); // raw, but still one path segment or query value
  try {
    return encodeURIComponent(v);
  } catch {
    return Array.from(v, (ch) => {
      try {
        return encodeURIComponent(ch);
      } catch {
        return '%ED%A0%80';
      }
    }).join('');
  }
}
