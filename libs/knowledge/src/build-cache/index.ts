export * from './keyed-cache';
export * from './screen-memo';
export * from './cluster-summary-cache';
export * from './code-fingerprint';
export * from './search-terms-memo';
export * from './embedder-fit-cache';
export * from './json-pieces';
export * from './cwe-summary-memo';
