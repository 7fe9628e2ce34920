export * from './canonical-json';
export * from './cwe';
export * from './errors';
export * from './fix-record';
export * from './float32-base64';
export * from './language';
export * from './sha256';
export * from './text-slices';
