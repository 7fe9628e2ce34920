export * from './cwe';
export * from './errors';
export * from './fix-record';
export * from './language';
