/**
 * `GET /sandbox/` (dev only): the phone-like page where a person plays the
 * customer on a stand-in SMS, Messenger or WhatsApp. It talks to the sandbox
 * connector's API under `/sandbox/api` (connectors/sandbox/), which feeds the
 * same ingest path as the real platforms.
 *
 * Never served when `config.devFeatures` is off (NODE_ENV=production): the
 * router then lets every request fall through to the 404 handler, even if a
 * caller mounts it by mistake.
 */
import { Router } from 'express';
import type { Config } from '../config';
import { webviewPageRouter } from './console.route';

/**
 * @example if (config.devFeatures) routes.push({ path: '/sandbox', router: sandboxRouter(config) });
 */
export function sandboxRouter(config: Readonly<Config>, options: { dir?: string } = {}): Router {
  if (!config.devFeatures) return Router();
  return webviewPageRouter(config, { name: 'sandbox', ...options });
}
