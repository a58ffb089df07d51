/** The gateway lives in ./gateway/ (one module per concern); this path stays for existing imports. */
export * from './gateway/index.js';
