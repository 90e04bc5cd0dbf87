// GET /dashboard/: the dashboard's static files (built by scripts/build-dashboard.ts into dist/dashboard).
// They hold no data and need no key: the page signs in itself. Every file goes out with a strict
// Content-Security-Policy (own scripts, styles and connections only, no inline script, no eval, and
// Trusted Types so no string reaches an HTML sink), nosniff, and cache headers: index.html is revalidated
// on every load, the hashed assets are immutable.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import express, { type Response, type Router } from 'express';

export const DASHBOARD_PATH = '/dashboard';

/** dist/dashboard, from src/api/rest (tsx) and from dist/api/rest (the build) alike. */
export const DASHBOARD_DIR = fileURLToPath(new URL('../../../dist/dashboard/', import.meta.url));

export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "require-trusted-types-for 'script'",
  "trusted-types 'none'",
].join('; ');

function secure(res: Response): void {
  res.setHeader('Content-Security-Policy', DASHBOARD_CSP);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
  res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
}

export function dashboardRouter(dir = DASHBOARD_DIR): Router {
  const router = express.Router();
  // Relative asset URLs resolve under /dashboard/ only: /dashboard itself redirects there.
  router.get(DASHBOARD_PATH, (req, res, next) => {
    if (req.originalUrl.split('?')[0] !== DASHBOARD_PATH) return next();
    res.redirect(301, `${DASHBOARD_PATH}/`);
  });
  router.use(DASHBOARD_PATH, (req, res, next) => {
    if (existsSync(`${dir}index.html`)) return next();
    res.status(404).json({
      errors: [
        {
          message: 'the dashboard is not built: run `npm run build` (npm start does)',
          extensions: { code: 'NOT_FOUND', rule: 'dashboardBuilt' },
        },
      ],
    });
  });
  router.use(
    DASHBOARD_PATH,
    express.static(dir, {
      index: 'index.html',
      dotfiles: 'ignore',
      redirect: false,
      etag: true,
      lastModified: false,
      setHeaders(res, path) {
        secure(res);
        res.setHeader('Cache-Control', path.includes('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache');
      },
    }),
  );
  return router;
}
