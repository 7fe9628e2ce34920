import { createReadStream } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { dirname, join } from 'node:path';
import { Controller, Get, Header, NotFoundException, Param, Res } from '@nestjs/common';
import { API_ROUTES } from './api-routes';
import { buildOpenApiDocument } from './route-docs';

/** Built once: the routes and their schemas do not change while the process runs. */
let document: Record<string, unknown> | undefined;
export function openApiDocument(): Record<string, unknown> {
  document ??= buildOpenApiDocument(
    {
      title: 'Rescue API',
      version: '1',
      description:
        'Retrieval of security context for coding tasks, KB builds and generation batches. Every route but the probes and this description needs `Authorization: Bearer <key>` when the server has API_KEYS set.',
    },
    API_ROUTES,
  );
  return document;
}

/** Where swagger-ui-dist is installed (resolved, so hoisting does not matter). */
const SWAGGER_UI_DIR = dirname(require.resolve('swagger-ui-dist/package.json'));

/** The swagger-ui-dist files the page loads, all served from this package (no CDN). */
const ASSETS: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
};

// Our own page rather than the package's index.html, whose initializer points at a public demo API.
const PAGE = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Rescue API</title><link rel="stylesheet" href="/docs/swagger-ui.css"><link rel="icon" href="/docs/favicon-32x32.png"></head>
<body><div id="swagger-ui"></div><script src="/docs/swagger-ui-bundle.js"></script><script src="/docs/init.js"></script></body>
</html>
`;
// In its own file, so the page works under a Content-Security-Policy without 'unsafe-inline'.
const INIT = `window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#swagger-ui', deepLinking: true, persistAuthorization: false });\n`;

/** `GET /openapi.json` (generated from the zod schemas) and `GET /docs`, an interactive page for it. */
@Controller()
export class DocsController {
  @Get('openapi.json')
  openapi(): Record<string, unknown> {
    return openApiDocument();
  }

  @Get('docs')
  @Header('content-type', 'text/html; charset=utf-8')
  page(): string {
    return PAGE;
  }

  @Get('docs/init.js')
  @Header('content-type', 'text/javascript; charset=utf-8')
  init(): string {
    return INIT;
  }

  @Get('docs/:asset')
  asset(@Param('asset') asset: string, @Res() res: ServerResponse): void {
    const type = Object.hasOwn(ASSETS, asset) ? ASSETS[asset] : undefined;
    if (!type) throw new NotFoundException(`no such file: /docs/${asset}`);
    res.writeHead(200, { 'content-type': type, 'cache-control': 'public, max-age=86400' });
    createReadStream(join(SWAGGER_UI_DIR, asset)).pipe(res);
  }
}
