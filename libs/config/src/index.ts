export * from './env';
export * from './native-logging';
