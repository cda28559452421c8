import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { ArcaError, ErrorCodes } from '@arca/core';
import type { CsrfOptions } from './handler-options.js';
import { mediaType } from './http-support.js';

/**
 * CSRF protection, written by hand because it is a few lines and the frameworks' packages
 * (csurf is deprecated, @fastify/csrf-protection, hono/csrf) each fit one framework only:
 *
 * 1. Origin check on every state-changing request: an `Origin` header (sent by every
 *    current browser on POST/DELETE) must name this host or a trusted origin.
 * 2. Form posts (the dashboard): signed double-submit token. The page sets an HttpOnly,
 *    SameSite=Strict cookie holding `nonce.hmac(secret, nonce)` and puts the same value in a
 *    hidden `_csrf` field; a post is accepted only when both are present, equal and signed.
 * 3. JSON API: a cross-site page cannot send `Content-Type: application/json` or a custom
 *    header without a CORS preflight, which these routes never approve; so state-changing
 *    API calls MUST carry one of them (`content-type: application/json` or `x-arca-request`).
 */
export interface CsrfGuard {
  cookieName: string;
  /** The valid token carried by the request's cookie, if any. */
  tokenFromCookie(request: Request): string | undefined;
  /** A fresh signed token and the Set-Cookie header that stores it. */
  issue(request: Request): { token: string; setCookie: string };
  checkOrigin(request: Request): void;
  checkForm(request: Request, field: string | null): void;
  checkApi(request: Request): void;
}

function forbidden(message: string): ArcaError {
  const e = new ArcaError(ErrorCodes.KEY_INVALID, message, { details: { csrf: true } });
  return e;
}

export function createCsrfGuard(basePath: string, o: CsrfOptions = {}): CsrfGuard {
  const secret = o.secret ?? randomBytes(32).toString('hex');
  const cookieName = o.cookieName ?? 'arca_csrf';
  const trusted = new Set((o.trustedOrigins ?? []).map((x) => new URL(x).origin));
  const sign = (nonce: string) => createHmac('sha256', secret).update(nonce).digest('base64url');
  const valid = (token: string | undefined | null): token is string => {
    if (!token || token.length > 200) return false;
    const [nonce, sig, ...rest] = token.split('.');
    if (!nonce || !sig || rest.length) return false;
    const want = Buffer.from(sign(nonce));
    const got = Buffer.from(sig);
    return want.length === got.length && timingSafeEqual(want, got);
  };
  const cookieOf = (request: Request): string | undefined => {
    for (const part of (request.headers.get('cookie') ?? '').split(';')) {
      const i = part.indexOf('=');
      if (i > 0 && part.slice(0, i).trim() === cookieName) return part.slice(i + 1).trim();
    }
    return undefined;
  };
  return {
    cookieName,
    tokenFromCookie(request) {
      const t = cookieOf(request);
      return valid(t) ? t : undefined;
    },
    issue(request) {
      const nonce = randomBytes(18).toString('base64url');
      const token = `${nonce}.${sign(nonce)}`;
      const secure = o.secure ?? new URL(request.url).protocol === 'https:';
      return { token, setCookie: `${cookieName}=${token}; Path=${basePath || '/'}; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}` };
    },
    checkOrigin(request) {
      const origin = request.headers.get('origin');
      if (origin === null) return;
      let host: string | undefined;
      try {
        host = origin === 'null' ? undefined : new URL(origin).host;
      } catch {
        host = undefined;
      }
      if (host !== undefined && (host === new URL(request.url).host || trusted.has(new URL(origin).origin))) return;
      throw forbidden(`Cross-site request refused: Origin ${JSON.stringify(origin.slice(0, 100))} is not this site. Add it to csrf.trustedOrigins if it is yours.`);
    },
    checkForm(request, field) {
      this.checkOrigin(request);
      const cookie = cookieOf(request);
      if (!valid(cookie) || !field || field !== cookie) {
        throw forbidden('The form has expired or did not come from this dashboard (CSRF token missing or wrong). Reload the page and try again.');
      }
    },
    checkApi(request) {
      this.checkOrigin(request);
      if (mediaType(request) !== 'application/json' && !request.headers.has('x-arca-request')) {
        throw forbidden('State-changing API calls need "Content-Type: application/json" or an "X-Arca-Request: 1" header (CSRF protection).');
      }
    },
  };
}

/** Is this error a CSRF refusal (answered 403, not 400)? */
export function isCsrfError(e: unknown): boolean {
  return e instanceof ArcaError && e.details.csrf === true;
}
