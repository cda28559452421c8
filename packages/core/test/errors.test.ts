import { describe, expect, it } from 'vitest';
import { ArcaError, redact, registerSecret, serializeError } from '@arca/core';

describe('redact', () => {
  it('removes credentials from URLs, key=value pairs, bearer tokens and age keys', () => {
    expect(redact('connect postgres://app:hunter22@db:5432/x failed')).toBe('connect postgres://app:***@db:5432/x failed');
    expect(redact('password=hunter22 user=bob')).toBe('password=*** user=bob');
    expect(redact('{"token": "abcd1234"}')).toBe('{"token": "***"}');
    expect(redact('Authorization: Bearer eyJhbGciOi.x.y')).not.toContain('eyJ');
    expect(redact('Authorization: Basic dXNlcjpwYXNz')).not.toContain('dXNl');
    expect(redact('key AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ leaked')).toBe('key AGE-SECRET-KEY-1*** leaked');
  });

  it('leaves prose about secrets readable', () => {
    expect(redact('secret: a secret of at least 8 characters is required')).toBe('secret: a secret of at least 8 characters is required');
  });

  it('removes registered literal secrets everywhere, including ArcaError messages and serialized errors', () => {
    registerSecret('plain-s3cret-value');
    expect(redact('oops plain-s3cret-value here')).toBe('oops *** here');
    const e = new ArcaError('SOURCE_FAILED', 'dump failed with plain-s3cret-value');
    expect(e.message).toBe('dump failed with ***');
    expect(serializeError(new Error('x plain-s3cret-value')).message).toBe('x ***');
  });
});

describe('redact keeps ordinary words', () => {
  it('does not treat "basic" or "bearer" in prose as credentials', () => {
    expect(redact('basic checks failed')).toBe('basic checks failed');
    expect(redact('the bearer of bad news')).toBe('the bearer of bad news');
  });
});
