import * as path from 'node:path';
// dist/test/paths.js -> repository root
export const REPO = path.resolve(__dirname, '..', '..', '..', '..');
export const VECTORS = path.join(REPO, 'tests', 'vectors');
export const PROTOCOL_MD = path.join(REPO, 'docs', 'protocol.md');
