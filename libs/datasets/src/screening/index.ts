export * from './code-capabilities';
export * from './instruction-patterns';
export * from './record-screen';
export * from './trust';
export * from './unicode';
export * from './screen-fingerprint';
