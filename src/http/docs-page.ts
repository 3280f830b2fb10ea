// /docs: the OpenAPI document rendered as one self-contained page (no CDN, no external assets), so it
// works on a machine without internet and behind the same API key as the rest of the API.

const STYLE = `
:root { color-scheme: light dark; --fg: #1d1f23; --muted: #5b6270; --line: #d8dce3; --bg: #fff; --code: #f3f4f7; --accent: #2457c5; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6e8ec; --muted: #a0a7b4; --line: #353a44; --bg: #16181d; --code: #22252c; --accent: #7aa2ff; } }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.55 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
nav { position: fixed; top: 0; bottom: 0; left: 0; width: 270px; overflow: auto; padding: 20px; border-right: 1px solid var(--line); }
nav a { display: block; color: var(--fg); text-decoration: none; padding: 2px 0; font-size: 14px; }
nav a:hover { color: var(--accent); }
nav h2 { font-size: 12px; text-transform: uppercase; letter-spacing: .06em; color: var(--muted); margin: 18px 0 4px; }
main { margin-left: 270px; padding: 24px 40px 80px; max-width: 1100px; }
code, pre { font: 13px/1.45 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: var(--code); border-radius: 4px; }
code { padding: 1px 4px; }
table { border-collapse: collapse; width: 100%; margin: 8px 0 16px; }
th, td { text-align: left; vertical-align: top; border-bottom: 1px solid var(--line); padding: 6px 8px; }
th { font-size: 12px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); }
.operation { border: 1px solid var(--line); border-radius: 8px; padding: 4px 20px 12px; margin: 18px 0; }
.method { display: inline-block; min-width: 58px; text-align: center; font-size: 12px; font-weight: 700; padding: 2px 8px; border-radius: 4px; color: #fff; margin-right: 8px; }
.get { background: #1f7a4d; } .post { background: #2457c5; } .put, .patch { background: #9a6700; } .delete { background: #b42318; }
.status { font-weight: 700; }
.muted { color: var(--muted); }
.schema { margin: 4px 0 4px 0; }
.schema ul { list-style: none; margin: 2px 0; padding-left: 18px; border-left: 1px solid var(--line); }
.schema li { margin: 2px 0; }
.required { color: #b42318; }
details > summary { cursor: pointer; }
`;

const SCRIPT = `
const spec = JSON.parse(document.getElementById('spec').textContent);
const main = document.querySelector('main');
const nav = document.querySelector('nav');

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === 'html') node.innerHTML = value; else node.setAttribute(key, value);
  }
  for (const child of children.flat()) if (child !== null && child !== undefined) node.append(child);
  return node;
}
const esc = (text) => String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
const inline = (text) => esc(text).replace(/\`([^\`]+)\`/g, '<code>$1</code>').replace(/\\*\\*([^*]+)\\*\\*/g, '<strong>$1</strong>');

// Just enough Markdown for the descriptions in this document: paragraphs, lists and pipe tables.
function markdown(text) {
  const box = el('div');
  for (const block of String(text || '').split(/\\n\\s*\\n/)) {
    const lines = block.split('\\n').filter((line) => line.trim() !== '');
    if (lines.length === 0) continue;
    if (lines.every((line) => line.trim().startsWith('|'))) {
      const cells = (line) => line.trim().replace(/^\\||\\|$/g, '').split(/(?<!\\\\)\\|/).map((cell) => cell.trim().replace(/\\\\\\|/g, '|'));
      const [head, , ...rows] = lines;
      box.append(el('table', {}, el('thead', {}, el('tr', {}, cells(head).map((cell) => el('th', { html: inline(cell) })))),
        el('tbody', {}, rows.map((row) => el('tr', {}, cells(row).map((cell) => el('td', { html: inline(cell) })))))));
    } else if (lines.every((line) => line.trim().startsWith('- '))) {
      box.append(el('ul', {}, lines.map((line) => el('li', { html: inline(line.trim().slice(2)) }))));
    } else {
      box.append(el('p', { html: inline(lines.join(' ')) }));
    }
  }
  return box;
}

const refName = (ref) => ref.split('/').pop();
const schemaFor = (ref) => spec.components.schemas[refName(ref)];

function typeOf(schema) {
  if (!schema) return 'any';
  if (schema.$ref) return refName(schema.$ref);
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  if (schema.enum) return schema.enum.map((value) => JSON.stringify(value)).join(' | ');
  const variants = schema.oneOf || schema.anyOf;
  if (variants && variants.every((variant) => variant.properties)) return 'one of ' + variants.length + ' objects';
  if (variants) return variants.map(typeOf).join(' | ');
  const types = [].concat(schema.type || []);
  if (types.includes('array')) return 'array of ' + typeOf(schema.items);
  const base = types.length ? types.join(' | ') : (schema.properties ? 'object' : 'any');
  return schema.format ? base + ' (' + schema.format + ')' : base;
}

function constraints(schema) {
  if (!schema || schema.$ref) return '';
  const parts = [];
  if (schema.minimum !== undefined) parts.push('>= ' + schema.minimum);
  if (schema.maximum !== undefined) parts.push('<= ' + schema.maximum);
  if (schema.minLength !== undefined) parts.push('length >= ' + schema.minLength);
  if (schema.maxLength !== undefined) parts.push('length <= ' + schema.maxLength);
  if (schema.minItems !== undefined) parts.push(schema.minItems + ' to ' + (schema.maxItems ?? 'any') + ' items');
  if (schema.pattern) parts.push('pattern ' + schema.pattern);
  if (schema.default !== undefined) parts.push('default ' + JSON.stringify(schema.default));
  if (schema.additionalProperties === false) parts.push('no other keys');
  return parts.join(', ');
}

function typeNode(schema) {
  if (schema && schema.$ref) return el('a', { href: '#schema-' + refName(schema.$ref) }, el('code', {}, refName(schema.$ref)));
  return el('code', {}, typeOf(schema));
}

// A command envelope variant is named by its \`type\` (a one-value enum).
function variantName(variant) {
  const type = variant.properties && variant.properties.type;
  return variant.title || (type && (type.const || (type.enum && type.enum.length === 1 && type.enum[0]))) || '';
}

function schemaTree(schema, depth) {
  depth = depth || 0;
  const box = el('div', { class: 'schema' });
  if (!schema || schema.$ref || depth > 6) return box;
  const variants = schema.oneOf || schema.anyOf;
  if (variants && variants.some((v) => v.properties || v.$ref)) {
    box.append(el('div', { class: 'muted' }, 'one of:'));
    box.append(el('ul', {}, variants.map((variant) => el('li', {},
      el('details', {}, el('summary', {}, variantName(variant) ? el('code', {}, variantName(variant)) : typeNode(variant), variant.description ? ' ' + variant.description : ''),
        schemaTree(variant, depth + 1))))));
    return box;
  }
  const items = schema.type === 'array' || (Array.isArray(schema.type) && schema.type.includes('array')) ? schema.items : null;
  if (items && !items.$ref && items.properties) return schemaTree(items, depth);
  if (!schema.properties) return box;
  const required = new Set(schema.required || []);
  box.append(el('ul', {}, Object.entries(schema.properties).map(([name, property]) => el('li', {},
    el('code', {}, name), required.has(name) ? el('span', { class: 'required', title: 'required' }, ' *') : '', ' ', typeNode(property),
    constraints(property) ? el('span', { class: 'muted' }, ' ' + constraints(property)) : '',
    property.description ? el('span', { html: ' — ' + inline(property.description) }) : '',
    schemaTree(property, depth + 1)))));
  return box;
}

function content(body) {
  if (!body || !body.content) return [];
  return Object.entries(body.content).map(([type, media]) => el('div', {},
    el('div', {}, el('span', { class: 'muted' }, type + ': '), typeNode(media.schema)), schemaTree(media.schema)));
}

function operation(path, method, op) {
  const section = el('section', { class: 'operation', id: 'op-' + op.operationId },
    el('h3', {}, el('span', { class: 'method ' + method }, method.toUpperCase()), el('code', {}, path)),
    el('p', {}, el('strong', {}, op.summary || '')),
    markdown(op.description));
  if (op.security && op.security.length === 0) section.append(el('p', { class: 'muted' }, 'No authentication.'));
  if (op.parameters && op.parameters.length) {
    section.append(el('h4', {}, 'Parameters'), el('table', {},
      el('thead', {}, el('tr', {}, ['name', 'in', 'type', 'description'].map((h) => el('th', {}, h)))),
      el('tbody', {}, op.parameters.map((p) => el('tr', {},
        el('td', {}, el('code', {}, p.name), p.required ? el('span', { class: 'required' }, ' *') : ''),
        el('td', {}, p.in), el('td', {}, typeNode(p.schema), ' ', el('span', { class: 'muted' }, constraints(p.schema))),
        el('td', { html: inline(p.description || (p.schema && p.schema.description) || '') }))))));
  }
  if (op.requestBody) section.append(el('h4', {}, 'Request body'), ...content(op.requestBody));
  section.append(el('h4', {}, 'Responses'), el('table', {},
    el('thead', {}, el('tr', {}, ['status', 'meaning', 'headers', 'body'].map((h) => el('th', {}, h)))),
    el('tbody', {}, Object.entries(op.responses).map(([status, response]) => el('tr', { class: 'response', 'data-status': status },
      el('td', { class: 'status' }, status),
      el('td', {}, markdown(response.description)),
      el('td', {}, Object.entries(response.headers || {}).map(([name, h]) => el('div', {}, el('code', {}, name), el('span', { html: ' ' + inline(h.description || '') })))),
      el('td', {}, Object.entries(response.content || {}).map(([type, media]) => el('div', {}, el('span', { class: 'muted' }, type + ' '), typeNode(media.schema)))))))));
  return section;
}

document.title = spec.info.title + ' API';
main.append(el('h1', {}, spec.info.title + ' API ', el('span', { class: 'muted' }, 'v' + spec.info.version + ' · OpenAPI ' + spec.openapi)),
  el('p', {}, el('a', { href: '/openapi.json' }, 'openapi.json')), markdown(spec.info.description));
nav.append(el('strong', {}, spec.info.title + ' API'));

const byTag = new Map((spec.tags || []).map((tag) => [tag.name, []]));
for (const [path, item] of Object.entries(spec.paths)) {
  for (const [method, op] of Object.entries(item)) {
    const tag = (op.tags && op.tags[0]) || 'Other';
    if (!byTag.has(tag)) byTag.set(tag, []);
    byTag.get(tag).push([path, method, op]);
  }
}
for (const [tag, ops] of byTag) {
  const description = (spec.tags || []).find((t) => t.name === tag);
  main.append(el('h2', { id: 'tag-' + tag.replace(/\\W+/g, '-') }, tag), description ? el('p', { class: 'muted' }, description.description) : '');
  nav.append(el('h2', {}, tag));
  for (const [path, method, op] of ops) {
    main.append(operation(path, method, op));
    nav.append(el('a', { href: '#op-' + op.operationId }, el('span', { class: 'muted' }, method.toUpperCase() + ' '), path));
  }
}
main.append(el('h2', { id: 'schemas' }, 'Schemas'));
nav.append(el('h2', {}, 'Schemas'));
for (const [name, schema] of Object.entries(spec.components.schemas || {})) {
  main.append(el('section', { class: 'operation schema-def', id: 'schema-' + name }, el('h3', {}, name), markdown(schema.description), schemaTree(schema)));
  nav.append(el('a', { href: '#schema-' + name }, name));
}
document.body.dataset.rendered = 'true';
`;

/** The page for `/docs`: the document inlined as JSON and rendered in the browser by a small script. */
export function docsPage(document: Record<string, unknown>): string {
  // Inside a <script> element only `<` could end it early; escaping it keeps the JSON intact.
  const json = JSON.stringify(document).replaceAll('<', '\\u003c');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>oncely API</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body>
<nav></nav>
<main><noscript><p>This page needs JavaScript; the raw document is at <a href="/openapi.json">/openapi.json</a>.</p></noscript></main>
<script type="application/json" id="spec">${json}</script>
<script>${SCRIPT}</script>
</body>
</html>`;
}
