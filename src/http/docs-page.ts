// /docs: swagger-ui, served from swagger-ui-dist (an optional peer dependency) in node_modules by this server itself (no CDN, no remote
// fonts), so the page works on a machine without internet. The page is a small HTML shell that points
// swagger-ui at /openapi.json; its only inline script is allowed by its hash in the Content-Security-Policy.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { missingPackageMessage } from '../optional.ts';

/** The files of swagger-ui-dist the page uses, and the only ones served. */
export const DOCS_ASSET_NAMES = ['swagger-ui.css', 'swagger-ui-bundle.js', 'favicon-32x32.png', 'favicon-16x16.png'] as const;
export type DocsAssetName = (typeof DOCS_ASSET_NAMES)[number];

const CONTENT_TYPES: Record<string, string> = {
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.png': 'image/png',
};

// swagger-ui-dist's entry point loads the whole browser bundle into Node; its folder is all we need. It is an
// optional peer dependency: without it /docs says which package to install, and nothing else changes.
const require = createRequire(import.meta.url);
const PACKAGE_JSON = (() => {
  try {
    return require.resolve('swagger-ui-dist/package.json');
  } catch {
    return undefined;
  }
})();
const FOLDER = PACKAGE_JSON ? path.dirname(PACKAGE_JSON) : undefined;
/** The swagger-ui version, part of every asset URL so that the files can be cached for good (undefined: not installed). */
export const SWAGGER_UI_VERSION = PACKAGE_JSON ? (JSON.parse(readFileSync(PACKAGE_JSON, 'utf8')) as { version: string }).version : undefined;

const assetUrl = (name: DocsAssetName) => `/docs/assets/${name}?v=${SWAGGER_UI_VERSION}`;

const INIT = `window.ui = SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: 'BaseLayout',
  validatorUrl: null,
  docExpansion: 'list',
  defaultModelsExpandDepth: 0,
  onComplete: function () { document.body.dataset.rendered = 'true'; },
});`;

const sha256 = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

/**
 * Same origin only. swagger-ui sets element styles from script and its stylesheet embeds SVG icons as
 * data: URLs; nothing else is allowed in.
 */
export const DOCS_CSP = [
  "default-src 'none'",
  `script-src 'self' ${sha256(INIT)}`,
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const SWAGGER_UI_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>oncely API</title>
<link rel="icon" type="image/png" sizes="32x32" href="${assetUrl('favicon-32x32.png')}">
<link rel="icon" type="image/png" sizes="16x16" href="${assetUrl('favicon-16x16.png')}">
<link rel="stylesheet" href="${assetUrl('swagger-ui.css')}">
</head>
<body>
<div id="swagger-ui"><noscript>This page needs JavaScript; the raw document is at <a href="/openapi.json">/openapi.json</a>.</noscript></div>
<script src="${assetUrl('swagger-ui-bundle.js')}"></script>
<script>${INIT}</script>
</body>
</html>`;

/** What /docs shows when swagger-ui-dist is not installed: the package to install, and the raw document. */
const MISSING_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>oncely API</title>
</head>
<body>
<p>${missingPackageMessage('the /docs page', ['swagger-ui-dist'])}</p>
<p>The OpenAPI document itself is at <a href="/openapi.json">/openapi.json</a>.</p>
</body>
</html>`;

/** The HTML of `/docs`: swagger-ui, or, without swagger-ui-dist, one line saying which package to install. */
export const DOCS_PAGE = SWAGGER_UI_VERSION ? SWAGGER_UI_PAGE : MISSING_PAGE;

interface Asset {
  body: Uint8Array<ArrayBuffer>;
  gzipped: Uint8Array<ArrayBuffer> | undefined;
  contentType: string;
}

export interface AssetResponse {
  body: Uint8Array<ArrayBuffer>;
  headers: Record<string, string>;
}

/**
 * The asset files, each read (and gzipped when that helps) on its first request and kept in memory.
 *
 * @example
 * const assets = createDocsAssets();
 * const css = assets.get('swagger-ui.css', { version: SWAGGER_UI_VERSION, acceptEncoding: 'gzip' });
 */
export function createDocsAssets() {
  const cache = new Map<DocsAssetName, Asset>();
  const load = (folder: string, name: DocsAssetName): Asset => {
    let asset = cache.get(name);
    if (!asset) {
      const body = readFileSync(path.join(folder, name));
      const contentType = CONTENT_TYPES[path.extname(name)] ?? 'application/octet-stream';
      asset = { body, contentType, gzipped: contentType.startsWith('image/') ? undefined : gzipSync(body) };
      cache.set(name, asset);
    }
    return asset;
  };
  return {
    /** The file and its headers; undefined for a name outside DOCS_ASSET_NAMES. */
    get(name: string, request: { version: string | undefined; acceptEncoding: string | undefined }): AssetResponse | undefined {
      if (!FOLDER || !(DOCS_ASSET_NAMES as readonly string[]).includes(name)) return undefined;
      const asset = load(FOLDER, name as DocsAssetName);
      // Only a URL naming this version may be kept for good; any other is revalidated.
      const cacheControl = request.version === SWAGGER_UI_VERSION ? 'public, max-age=31536000, immutable' : 'no-cache';
      const headers: Record<string, string> = { 'content-type': asset.contentType, 'cache-control': cacheControl, 'x-content-type-options': 'nosniff' };
      if (!asset.gzipped) return { body: asset.body, headers };
      headers['vary'] = 'accept-encoding';
      if (!/\bgzip\b/i.test(request.acceptEncoding ?? '')) return { body: asset.body, headers };
      return { body: asset.gzipped, headers: { ...headers, 'content-encoding': 'gzip' } };
    },
  };
}
